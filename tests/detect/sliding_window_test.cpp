#include "detect/sliding_window.hpp"

#include <doctest/doctest.h>

using namespace smtp::detect;

TEST_CASE("a sliding window forgets events older than the window, within one slice") {
  SlidingWindow w;
  const std::uint32_t window = 80;  // slices of 10 s
  for (std::uint32_t t = 1000; t < 1040; t += 10) w.add(t, window);
  CHECK(w.count(1040, window) == 4);
  CHECK(w.count(1079, window) == 4);
  CHECK(w.count(1085, window) == 3);  // the event at 1000 has slid out
  CHECK(w.count(1200, window) == 0);
  w.add(1200, window, 3);
  CHECK(w.count(1200, window) == 3);
}

TEST_CASE("a sliding window saturates instead of wrapping") {
  SlidingWindow w;
  w.add(10, 60, 70000);
  CHECK(w.count(10, 60) == 65535);
}

TEST_CASE("a window shorter than eight seconds does not stretch") {
  SlidingWindow w;
  const std::uint32_t window = 2;
  w.add(100, window);
  CHECK(w.count(101, window) == 1);
  CHECK(w.count(102, window) == 0);  // two one-second slices: the event at 100 is gone
  w.add(102, window);
  w.add(103, window);
  CHECK(w.count(103, window) == 2);
}
