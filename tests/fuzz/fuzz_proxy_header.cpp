// libFuzzer target for the PROXY protocol parser: a header is accepted whole or not at all,
// within kMaxProxyHeader bytes; every shorter prefix of an accepted header waits for more;
// the addresses it carries come back the same from the headers the sensor writes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "daemon/address.hpp"
#include "daemon/relay/proxy_protocol.hpp"

namespace {

using namespace smtp::daemon;
using smtp::tcp;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_proxy_header: %s\n", what);
  std::abort();
}

std::span<const std::uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

bool same(const tcp::endpoint& a, const tcp::endpoint& b) { return unmapped(a.address()) == unmapped(b.address()) && a.port() == b.port(); }

void round_trip(const std::string& written, const ProxyHeader& h) {
  ProxyHeader again;
  if (parse_proxy_header(bytes(written), again) != ProxyParse::complete) fail("a header the sensor writes does not parse");
  if (again.length != written.size() || !again.has_address) fail("a written header parses to another length");
  if (!same(again.source, h.source) || !same(again.destination, h.destination)) fail("addresses changed on the round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  ProxyHeader h;
  const ProxyParse result = parse_proxy_header(in, h);
  if (result == ProxyParse::incomplete && size >= kMaxProxyHeader) fail("waits for more than kMaxProxyHeader bytes");
  if (result != ProxyParse::complete) return 0;
  if (h.length == 0 || h.length > size || h.length > kMaxProxyHeader) fail("an accepted header's length is out of bounds");
  for (std::size_t n = 0; n < h.length; ++n) {
    ProxyHeader part;
    if (parse_proxy_header(in.first(n), part) != ProxyParse::incomplete) fail("a prefix of an accepted header is not incomplete");
  }
  if (h.has_address) {
    round_trip(make_proxy_v1(h.source, h.destination), h);
    round_trip(make_proxy_v2(h.source, h.destination), h);
  }
  return 0;
}
