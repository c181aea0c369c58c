// Follows one AUTH exchange (RFC 4954): reads the username and decides the result, never keeping a secret.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/events.hpp"

namespace smtp::proto {

class AuthTracker {
 public:
  // Client side. `initial_response` is read for the username only, then forgotten.
  void start(AuthMechanism mechanism, std::string_view name, std::string_view initial_response, bool advertised);
  void response(std::string_view line);  // a client line while the exchange is open ("*" aborts)
  bool open() const noexcept { return open_; }

  // Server side: a reply to the AUTH command (`to_command`) or to a response line (`to_abort_line` when
  // that line was "*"). True when the exchange ended, with `out` filled (views valid until start()).
  bool reply(const Reply& r, bool to_command, bool to_abort_line, AuthAttempt& out) noexcept;
  // The session ended while the exchange was open: an aborted attempt.
  bool end_of_session(AuthAttempt& out) noexcept;
  void reset() noexcept;

 private:
  void read_username(std::string_view base64);
  void fill(AuthAttempt& out, AuthResult result, std::uint16_t code, std::string_view enhanced) const noexcept;

  std::string user_;
  std::array<char, 20> name_{};  // SASL names are at most 20 characters (RFC 4422)
  std::uint8_t name_len_ = 0;
  AuthMechanism mechanism_ = AuthMechanism::none;
  std::uint32_t responses_ = 0;
  bool open_ = false;
  bool advertised_ = false;
  bool read_first_ = false;  // only the first response can hold the username; later ones hold secrets
};

}  // namespace smtp::proto
