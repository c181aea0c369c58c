// What every session of one listener shares: its config, its counters, its live count.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/metrics.hpp"

#include <atomic>
#include <cstdint>
#include <optional>

namespace smtp::daemon {

class Sensor;

struct ListenerRuntime {
  config::Listener config;
  ListenerMetrics* metrics = nullptr;
  Sensor* sensor = nullptr;
  std::optional<tcp::endpoint> upstream;  // empty: the connection's original destination
  std::atomic<std::uint32_t> active{0};
};

// Client addresses as 16 bytes, IPv4 mapped into IPv6, for the CIDR lists.
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
