#include "daemon/relay/lcid.hpp"

#include <atomic>
#include <chrono>

namespace smtp::daemon {
namespace {

std::uint64_t seed() {
  using namespace std::chrono;
  constexpr std::int64_t epoch_2025_ms = 1'735'689'600'000;
  const auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return static_cast<std::uint64_t>(now_ms > epoch_2025_ms ? now_ms - epoch_2025_ms : 1);
}

std::atomic<std::uint64_t> counter{seed()};

}  // namespace

std::uint64_t next_lcid() { return counter.fetch_add(1, std::memory_order_relaxed); }

}  // namespace smtp::daemon
