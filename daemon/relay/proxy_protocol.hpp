// HAProxy's PROXY protocol v1 and v2: parsing an inbound header, writing an outbound one.
#pragma once

#include "daemon/asio.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace smtp::daemon {

enum class ProxyParse : std::uint8_t { incomplete, invalid, complete };

struct ProxyHeader {
  std::size_t length = 0;  // bytes the header occupies on the wire
  bool has_address = false;  // false for v2 LOCAL and v1 UNKNOWN: keep the socket's own addresses
  tcp::endpoint source;
  tcp::endpoint destination;
};

// The longest header we accept: v1's 107 bytes, or v2's 16 plus its address block and a
// modest amount of TLVs. Longer v2 headers are refused so that memory stays bounded.
inline constexpr std::size_t kMaxProxyHeader = 16 + 1024;

ProxyParse parse_proxy_header(std::span<const std::uint8_t> bytes, ProxyHeader& out);

std::string make_proxy_v1(const tcp::endpoint& source, const tcp::endpoint& destination);
std::string make_proxy_v2(const tcp::endpoint& source, const tcp::endpoint& destination);

}  // namespace smtp::daemon
