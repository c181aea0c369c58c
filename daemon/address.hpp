// Client addresses as an administrator reads them, and as the CIDR lists compare them.
#pragma once

#include "daemon/asio.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace smtp::daemon {

// IPv4 clients of a dual-stack listener arrive as ::ffff:a.b.c.d; show and send them
// as plain IPv4.
inline asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

// 16 bytes, IPv4 mapped into IPv6, for config::Cidr::contains.
inline std::array<std::uint8_t, 16> mapped_bytes(const asio::ip::address& a) {
  return a.is_v4() ? asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes() : a.to_v6().to_bytes();
}

template <class Cidrs>
bool in_any(const Cidrs& cidrs, const asio::ip::address& a) {
  const auto bytes = mapped_bytes(a);
  for (const auto& c : cidrs)
    if (c.contains(bytes)) return true;
  return false;
}

}  // namespace smtp::daemon
