// Follows AUTH exchanges (RFC 4954): which client lines are credentials, the username, and the result,
// never keeping a secret.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/events.hpp"

namespace smtp::proto {

// Exchanges are told apart by the pending-queue seq of their lines: replies pair in order, so a reply to a
// line at or after an exchange's AUTH (and before the next AUTH) belongs to that exchange while it is open.
// A client that pipelines a new AUTH before the previous one's final reply makes two exchanges open at once.
class AuthTracker {
 public:
  // Client side. `seq` is the pending-queue seq of the line, 0 when the queue was full.
  // Before start(): when every slot holds an open exchange, hands back the oldest as aborted (true).
  bool make_room(AuthAttempt& out) noexcept;
  // `initial_response` is read for the username only, then forgotten.
  void start(std::uint32_t seq, AuthMechanism mechanism, std::string_view name, std::string_view initial_response,
             bool advertised);
  // Whether the next client line is a credential: the newest exchange is open and its mechanism still owes a
  // client step, or a 334 is unanswered, or it cannot be followed (unknown mechanism, lines not queued).
  bool expects_response() const noexcept;
  void response(std::string_view line, std::uint32_t seq);  // a credential line ("*" aborts)
  void command(std::uint32_t seq) noexcept;                 // any other client line: it may answer a 334

  // Server side. Whether a reply to the line queued as `seq` belongs to an open exchange.
  bool owns(std::uint32_t seq) const noexcept;
  // A reply to that line: `to_command` for the AUTH command, `to_abort_line` when the line was "*". True when
  // the exchange ended, with `out` filled (views valid until the next start()). `advertised`: whether the
  // last EHLO reply before this one offered AUTH (a client that pipelines AUTH behind its EHLO sent it
  // before that reply arrived, so what start() was told may be stale).
  bool reply(const Reply& r, std::uint32_t seq, bool to_command, bool to_abort_line, bool advertised,
             AuthAttempt& out) noexcept;
  // The session ended: each open exchange, oldest first, is an aborted attempt. Call until false.
  bool end_of_session(AuthAttempt& out) noexcept;
  void reset() noexcept;

 private:
  struct Exchange {
    std::string user;
    std::array<char, 20> name{};  // SASL names are at most 20 characters (RFC 4422)
    std::uint8_t name_len = 0;
    AuthMechanism mechanism = AuthMechanism::none;
    std::uint32_t seq = 0;         // of the AUTH command, or of the exchange's first queued line
    std::uint32_t responses = 0;   // the initial response included
    std::uint32_t lines = 0;       // client lines after the AUTH line, credentials or not
    std::uint32_t challenges = 0;  // 334 replies
    std::uint8_t steps = 0;        // client responses the mechanism still owes
    bool paranoid = false;         // every line is a credential until the final reply
    bool lost = false;             // a line of it was not queued: its final reply may have gone unseen
    bool open = false;
    bool advertised = false;
    bool read_first = false;  // only the first response can hold the username; later ones hold secrets
  };
  static constexpr std::size_t slots = 2;

  int owner(std::uint32_t seq) const noexcept;  // index into ex_, or -1
  void note_response(Exchange& x, std::string_view line);
  void read_username(Exchange& x, std::string_view base64);
  static void fill(const Exchange& x, AuthAttempt& out, AuthResult result, std::uint16_t code,
                   std::string_view enhanced) noexcept;

  std::array<Exchange, slots> ex_;
  std::uint8_t cur_ = 0;  // the newest exchange; older ones precede it, ring-wise
};

}  // namespace smtp::proto
