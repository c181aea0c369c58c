#include "config/cidr.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstring>

using smtp::config::Cidr;

namespace {
std::array<std::uint8_t, 16> addr(const char* text) {
  std::array<std::uint8_t, 16> a{};
  in_addr v4{};
  if (inet_pton(AF_INET, text, &v4) == 1) {
    a[10] = a[11] = 0xff;
    std::memcpy(&a[12], &v4, 4);
  } else {
    REQUIRE(inet_pton(AF_INET6, text, a.data()) == 1);
  }
  return a;
}
}  // namespace

TEST_CASE("IPv4 CIDRs match their network only") {
  const auto c = Cidr::parse("10.1.0.0/16").value();
  CHECK(c.contains(addr("10.1.2.3")));
  CHECK_FALSE(c.contains(addr("10.2.0.1")));
  CHECK(Cidr::parse("127.0.0.5")->contains(addr("127.0.0.5")));
  CHECK_FALSE(Cidr::parse("127.0.0.5")->contains(addr("127.0.0.6")));
  CHECK(Cidr::parse("0.0.0.0/0")->contains(addr("203.0.113.9")));
  CHECK_FALSE(Cidr::parse("0.0.0.0/0")->contains(addr("2001:db8::1")));
  // Host bits are cleared, as iptables does.
  CHECK(Cidr::parse("10.1.2.3/8")->contains(addr("10.200.0.1")));
}

TEST_CASE("IPv6 CIDRs, and bad input") {
  const auto c = Cidr::parse("2001:db8::/32").value();
  CHECK(c.contains(addr("2001:db8:1::5")));
  CHECK_FALSE(c.contains(addr("2001:db9::1")));
  CHECK(Cidr::parse("::1/128")->contains(addr("::1")));
  CHECK(Cidr::parse("2001:db8::/33")->contains(addr("2001:db8:7fff::1")));
  CHECK_FALSE(Cidr::parse("2001:db8::/33")->contains(addr("2001:db8:8000::1")));
  for (const auto* bad : {"", "10.0.0.0/33", "::/129", "10.0.0/8", "abc", "10.0.0.0/", "10.0.0.0/x", "1.2.3.4/-1"})
    CHECK_FALSE(Cidr::parse(bad));
}
