// What every session of one listener shares: its config, its counters, its live count.
#pragma once

#include "config/config.hpp"
#include "daemon/address.hpp"
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

}  // namespace smtp::daemon
