#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "daemon/relay/proxy_protocol.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace smtp;
using namespace smtp::daemon;

namespace {
std::span<const std::uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
tcp::endpoint ep(const char* ip, std::uint16_t port) { return {asio::ip::make_address(ip), port}; }
}  // namespace

TEST_CASE("v1 round trip, and every prefix is incomplete") {
  const std::string h = make_proxy_v1(ep("192.0.2.7", 40000), ep("198.51.100.1", 25));
  CHECK(h == "PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n");
  for (std::size_t n = 1; n < h.size(); ++n) {
    ProxyHeader p;
    CHECK(parse_proxy_header(bytes(h.substr(0, n)), p) == ProxyParse::incomplete);
  }
  ProxyHeader p;
  REQUIRE(parse_proxy_header(bytes(h + "EHLO x\r\n"), p) == ProxyParse::complete);
  CHECK(p.length == h.size());
  CHECK(p.has_address);
  CHECK(p.source == ep("192.0.2.7", 40000));
  CHECK(p.destination == ep("198.51.100.1", 25));
}

TEST_CASE("v1 with IPv6, v4-mapped sources and UNKNOWN") {
  CHECK(make_proxy_v1(ep("2001:db8::1", 1), ep("2001:db8::2", 25)) == "PROXY TCP6 2001:db8::1 2001:db8::2 1 25\r\n");
  CHECK(make_proxy_v1(ep("::ffff:127.0.0.2", 5), ep("127.0.0.1", 25)) == "PROXY TCP4 127.0.0.2 127.0.0.1 5 25\r\n");
  ProxyHeader p;
  REQUIRE(parse_proxy_header(bytes("PROXY UNKNOWN\r\n"), p) == ProxyParse::complete);
  CHECK_FALSE(p.has_address);
  CHECK(p.length == 15);
}

TEST_CASE("malformed v1 headers are invalid") {
  for (const char* bad : {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
                          "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
                          "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
                          "EHLO example.com\r\n", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                          // an IPv6 scope: one client would be several addresses (tests/fuzz found it)
                          "PROXY TCP6 fe80::1%2 2001:db8::2 40000 25\r\n", "PROXY TCP6 2001:db8::1 fe80::2%lo 40000 25\r\n"}) {
    ProxyHeader p;
    CHECK_MESSAGE(parse_proxy_header(bytes(bad), p) == ProxyParse::invalid, bad);
  }
  ProxyHeader p;
  CHECK(parse_proxy_header(bytes("PROXY TCP4 " + std::string(200, '1')), p) == ProxyParse::invalid);
}

TEST_CASE("v2 round trip for both families, split anywhere") {
  for (const auto& [src, dst] : {std::pair{ep("192.0.2.7", 40000), ep("198.51.100.1", 25)},
                                 std::pair{ep("2001:db8::7", 40001), ep("2001:db8::1", 587)}}) {
    const std::string h = make_proxy_v2(src, dst);
    CHECK(h.size() == (src.address().is_v4() ? 28u : 52u));
    for (std::size_t n = 1; n < h.size(); ++n) {
      ProxyHeader p;
      CHECK(parse_proxy_header(bytes(h.substr(0, n)), p) == ProxyParse::incomplete);
    }
    ProxyHeader p;
    REQUIRE(parse_proxy_header(bytes(h + "EHLO"), p) == ProxyParse::complete);
    CHECK(p.length == h.size());
    CHECK(p.source == src);
    CHECK(p.destination == dst);
  }
}

TEST_CASE("v2 LOCAL keeps the socket's addresses, bad versions and families are invalid") {
  std::string local = make_proxy_v2(ep("192.0.2.7", 1), ep("192.0.2.8", 2));
  local[12] = 0x20;
  ProxyHeader p;
  REQUIRE(parse_proxy_header(bytes(local), p) == ProxyParse::complete);
  CHECK_FALSE(p.has_address);
  std::string bad_version = local;
  bad_version[12] = 0x31;
  CHECK(parse_proxy_header(bytes(bad_version), p) == ProxyParse::invalid);
  std::string udp = make_proxy_v2(ep("192.0.2.7", 1), ep("192.0.2.8", 2));
  udp[13] = 0x12;
  CHECK(parse_proxy_header(bytes(udp), p) == ProxyParse::invalid);
  std::string huge = make_proxy_v2(ep("192.0.2.7", 1), ep("192.0.2.8", 2));
  huge[14] = static_cast<char>(0xFF);  // a 65 KB TLV block: refused, memory stays bounded
  CHECK(parse_proxy_header(bytes(huge), p) == ProxyParse::invalid);
}
