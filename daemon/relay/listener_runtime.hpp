// What every relay session of one listener shares: its place in the config, its live count.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/relay/session_observer.hpp"
#include "daemon/relay/tls_context.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

namespace smtp::daemon {
inline tcp::endpoint to_endpoint(const config::HostPort& hp) { return {asio::ip::make_address(hp.host), hp.port}; }
}  // namespace smtp::daemon

namespace smtp::daemon {

// A down MTA must show in `journalctl -p warning` without a warning per session: one per
// listener every kEvery, with the count since the last (each session's own line, with its
// LCID, stays at info). Shared by the workers' threads, hence atomics.
class UpstreamWarnings {
 public:
  static constexpr std::chrono::seconds kEvery{10};
  // Counts one refused session; when a warning is due, returns how many were refused
  // since the last one (this one included), else 0.
  std::uint64_t refused(std::chrono::steady_clock::time_point now) {
    count_.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t t = now.time_since_epoch().count();
    std::int64_t next = next_.load(std::memory_order_relaxed);
    if (t < next) return 0;
    const std::int64_t after = t + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kEvery).count();
    if (!next_.compare_exchange_strong(next, after, std::memory_order_relaxed)) return 0;
    return count_.exchange(0, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> next_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> count_{0};
};

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
  UpstreamWarnings upstream_warnings;
};

}  // namespace smtp::daemon
