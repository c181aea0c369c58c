// The throttle behind the warnings that would otherwise come once per session or per write.
#include "daemon/log_throttle.hpp"

#include <doctest/doctest.h>

using namespace smtp::daemon;
using namespace std::chrono_literals;

TEST_CASE("a repeated trouble is logged once per interval, with the occurrences in between counted") {
  LogThrottle w(10s);
  const auto t0 = LogThrottle::Clock::time_point{} + 1h;
  CHECK(w.occurred(t0) == 1);  // the first, at once
  CHECK(w.occurred(t0 + 1s) == 0);
  CHECK(w.occurred(t0 + 9s) == 0);
  CHECK(w.occurred(t0 + 10s) == 3);  // the two held back and this one
  CHECK(w.occurred(t0 + 11s) == 0);
  CHECK(w.occurred(t0 + 21s) == 2);
}
