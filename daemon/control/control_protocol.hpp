// The control socket's line protocol (SPEC section 11), parsed without I/O.
//
// One request per line (LF or CRLF), at most kMaxLine bytes; every answer is zero or
// more lines and then a last line that is "ok" or starts with "error: ":
//   list                                  one line per active flag, then ok
//   add IP|CIDR [ttl=DURATION] [action=flag|block] [reason=TEXT]   (reason= takes the rest of the line)
//                                         "flagged|blocked KEY until T [(replaces ACTION ... until T)]",
//                                         "note: ..." when allow holds part of KEY, then ok; an
//                                         error when allow holds all of it (daemon/flag_keeper.cpp)
//   remove IP|CIDR
//   help                                  the commands, then ok
//   quit                                  ok, then the daemon closes the connection
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace smtp::daemon::control {

inline constexpr std::size_t kMaxLine = 4096;            // bytes in one request line, LF included
inline constexpr std::size_t kMaxRequests = 1000;        // per connection
inline constexpr std::size_t kMaxConnections = 16;       // at once; more are answered "error: busy" and closed
inline constexpr std::chrono::seconds kIdleTimeout{30};  // between requests
inline constexpr std::size_t kMaxReason = 256;

enum class Verb { list, add, remove, help, quit };

struct Request {
  Verb verb = Verb::help;
  std::string target;                        // add, remove: an IP or CIDR (checked by the flag table)
  std::optional<std::chrono::milliseconds> ttl;  // add: default flag.ttl
  bool block = false;                        // add: action=block
  std::string reason;                        // add
};

struct ParseError {
  std::string message;  // without the "error: " prefix
};

std::variant<Request, ParseError> parse_request(std::string_view line);

// The help text (each line ends in '\n', no final ok).
std::string_view help_text();

}  // namespace smtp::daemon::control
