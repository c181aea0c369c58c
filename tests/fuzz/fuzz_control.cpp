// libFuzzer target for the control socket's request line: any line is a request or an error
// message, and what a request carries stays within the protocol's bounds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "daemon/control/control_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace smtp::daemon::control;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_request(line);
  if (const auto* e = std::get_if<ParseError>(&parsed)) {
    if (e->message.empty() || e->message.size() > 512) std::abort();  // said back on one line, without echoing the request
    return 0;
  }
  const auto& r = std::get<Request>(parsed);
  const bool addressed = r.verb == Verb::add || r.verb == Verb::remove;
  if (addressed != !r.target.empty() || r.target.size() > 64 || r.reason.size() > kMaxReason) std::abort();
  for (const char c : r.reason)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();  // a reason reaches logs and the flag list
  if (r.ttl && r.ttl->count() < 0) std::abort();
  return 0;
}
