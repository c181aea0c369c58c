// What every relay session of one listener shares: its place in the config, its live count.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/log_throttle.hpp"
#include "daemon/relay/session_observer.hpp"
#include "daemon/relay/tls_context.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace smtp::daemon {
inline tcp::endpoint to_endpoint(const config::HostPort& hp) { return {asio::ip::make_address(hp.host), hp.port}; }
}  // namespace smtp::daemon

namespace smtp::daemon {

// A session reads its listener's settings from the config snapshot it starts with
// (`settings()`), so a SIGHUP changes upstream, limits, PROXY settings and the rest for
// new sessions while older ones keep theirs. `config` keeps the start-up values of what
// only a restart changes: the name, the listen address and the TLS mode.
struct ListenerRuntime {
  std::size_t index = 0;  // in Config::listeners, the same in every reloaded config
  config::Listener config;
  ObserverFactory* observers = nullptr;
  std::atomic<std::uint32_t> active{0};
  // Every listener's listen endpoint (restart-only): where an original destination
  // would loop back into the sensor.
  std::vector<tcp::endpoint> all_listens;
  // tls.mode terminate: replaced whole on SIGHUP; a session keeps the one it started with.
  std::atomic<std::shared_ptr<const TlsContexts>> tls;
  // An unreachable upstream: one warning per listener every 10 s, with the sessions refused
  // in between (each session's own line, with its LCID, stays at info).
  LogThrottle upstream_warnings{std::chrono::seconds(10)};
};

}  // namespace smtp::daemon
