#include "proto/capabilities.hpp"

#include "proto/command_parser.hpp"

namespace smtp::proto {

Capabilities parse_capabilities(std::string_view text) noexcept {
  Capabilities caps;
  caps.ehlo = true;
  bool first = true;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (first) {  // the greeting line names the host, not an extension
      first = false;
      continue;
    }
    if (line.size() <= 4) continue;
    line.remove_prefix(4);  // "250-" / "250 "
    const auto end = line.find_first_of(" =");
    const auto keyword = line.substr(0, end);
    const auto params = end == std::string_view::npos ? std::string_view{} : line.substr(end + 1);
    if (iequals(keyword, "PIPELINING")) caps.pipelining = true;
    else if (iequals(keyword, "CHUNKING")) caps.chunking = true;
    else if (iequals(keyword, "STARTTLS")) caps.starttls = true;
    else if (iequals(keyword, "SMTPUTF8")) caps.smtputf8 = true;
    else if (iequals(keyword, "8BITMIME")) caps.eight_bit_mime = true;
    else if (iequals(keyword, "BINARYMIME")) caps.binary_mime = true;
    else if (iequals(keyword, "DSN")) caps.dsn = true;
    else if (iequals(keyword, "ENHANCEDSTATUSCODES")) caps.enhanced_status_codes = true;
    else if (iequals(keyword, "SIZE")) {
      caps.has_size = true;
      std::uint64_t v = 0;
      if (parse_u64(params.substr(0, params.find(' ')), v)) caps.size = v;
    } else if (iequals(keyword, "AUTH")) {
      caps.auth = true;
      std::string_view rest = params;
      while (!rest.empty()) {
        const auto sp = rest.find(' ');
        const auto mech = rest.substr(0, sp);
        rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
        if (mech.empty()) continue;
        caps.auth_mechanisms =
            static_cast<std::uint8_t>(caps.auth_mechanisms | (1u << static_cast<unsigned>(parse_auth_mechanism(mech))));
      }
    }
  }
  return caps;
}

}  // namespace smtp::proto
