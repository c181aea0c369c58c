// EHLO capabilities the server offered, parsed from its 2xx EHLO reply.
#pragma once

#include <cstdint>
#include <string_view>

#include "proto/events.hpp"

namespace smtp::proto {

struct Capabilities {
  bool ehlo = false;  // an EHLO got 2xx; false means the server offered no extension (HELO, or none yet)
  bool pipelining = false;
  bool chunking = false;
  bool starttls = false;
  bool smtputf8 = false;
  bool eight_bit_mime = false;
  bool binary_mime = false;
  bool dsn = false;
  bool enhanced_status_codes = false;
  bool auth = false;
  bool has_size = false;
  std::uint64_t size = 0;            // SIZE limit; 0 when none was stated
  std::uint8_t auth_mechanisms = 0;  // bit (1 << AuthMechanism)

  constexpr bool offers(AuthMechanism m) const noexcept {
    return (auth_mechanisms & (1u << static_cast<unsigned>(m))) != 0;
  }
};

// `reply_text` is Reply::text of a 2xx EHLO reply: the first line is the greeting, the rest keywords.
Capabilities parse_capabilities(std::string_view reply_text) noexcept;

}  // namespace smtp::proto
