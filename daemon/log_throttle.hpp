// At most one log line per interval for a trouble that repeats, with how often it happened in between.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace smtp::daemon {

// A down upstream or a full disk must show in `journalctl -p warning` without a line per
// session or per write. Shared by threads (the I/O workers, a sink's writer), hence atomics.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit constexpr LogThrottle(Clock::duration every) : every_(every.count()) {}

  // Counts one occurrence; when a line is due, returns how many happened since the last
  // one (this one included), else 0. The first is due at once.
  std::uint64_t occurred(Clock::time_point now = Clock::now()) {
    count_.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t t = now.time_since_epoch().count();
    std::int64_t next = next_.load(std::memory_order_relaxed);
    if (t < next) return 0;
    if (!next_.compare_exchange_strong(next, t + every_, std::memory_order_relaxed)) return 0;
    return count_.exchange(0, std::memory_order_relaxed);
  }

 private:
  const std::int64_t every_;
  std::atomic<std::int64_t> next_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace smtp::daemon
