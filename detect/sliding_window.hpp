// A sliding-window event counter bucketed into at most eight slices: no allocation.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace smtp::detect {

// Counts events in the last `window` seconds, give or take one slice: the oldest slice
// is dropped whole. Slices are window / 8 wide, but never under a second, so a window
// of under eight seconds uses fewer slices rather than stretching. Exact enough for
// abuse thresholds, and small enough to keep for every tracked IP.
class SlidingWindow {
 public:
  static constexpr std::uint32_t kSlices = 8;

  void add(std::uint32_t now_s, std::uint32_t window_s, std::uint32_t n = 1) {
    advance(now_s, window_s);
    auto& c = counts_[slice_of(now_s, window_s) % kSlices];
    c = static_cast<std::uint16_t>(std::min<std::uint32_t>(0xFFFF, c + n));
  }

  std::uint32_t count(std::uint32_t now_s, std::uint32_t window_s) {
    advance(now_s, window_s);
    const std::uint32_t used = std::min(kSlices, (window_s + width(window_s) - 1) / width(window_s));
    std::uint32_t sum = 0;
    for (std::uint32_t i = 0; i < used; ++i) sum += counts_[(newest_ + kSlices - i) % kSlices];
    return sum;
  }

 private:
  static std::uint32_t width(std::uint32_t window_s) { return std::max<std::uint32_t>(1, (window_s + kSlices - 1) / kSlices); }
  static std::uint32_t slice_of(std::uint32_t now_s, std::uint32_t window_s) { return now_s / width(window_s); }

  // Clears the slices that fell out of the window since the last event.
  void advance(std::uint32_t now_s, std::uint32_t window_s) {
    const std::uint32_t current = slice_of(now_s, window_s);
    if (current <= newest_) return;  // same slice, or a clock that stepped back
    const std::uint32_t gap = std::min<std::uint32_t>(current - newest_, kSlices);
    for (std::uint32_t i = 1; i <= gap; ++i) counts_[(newest_ + i) % kSlices] = 0;
    newest_ = current;
  }

  std::array<std::uint16_t, kSlices> counts_{};
  std::uint32_t newest_ = 0;
};

}  // namespace smtp::detect
