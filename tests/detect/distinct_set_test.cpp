#include "detect/distinct_set.hpp"

#include <doctest/doctest.h>

using namespace smtp::detect;

TEST_CASE("a distinct set counts distinct values within the window, capped") {
  DistinctSet<5> s;
  CHECK(s.add(1, 100, 60, 5) == 1);
  CHECK(s.add(1, 101, 60, 5) == 1);
  CHECK(s.add(2, 102, 60, 5) == 2);
  CHECK(s.add(3, 161, 60, 5) == 3);  // 1 (last seen at 101) is 60 s old, still in; 2 is too
  CHECK(s.add(4, 170, 60, 5) == 2);  // now 1 and 2 have expired: 3 and 4 remain
  for (std::uint64_t v = 10; v < 20; ++v) s.add(v, 171, 60, 5);
  CHECK(s.add(99, 172, 60, 5) == 5);  // never above the cap
}

TEST_CASE("a distinct set above its inline room spills to the heap, and makes room by dropping the stalest") {
  // Two entries inline, a cap of three: the third lives on the heap.
  DistinctSet<2> s;
  const std::uint64_t a = 1, b = 2, c = 3, d = 4;
  CHECK(s.add(a, 100, 60, 3) == 1);
  CHECK(s.add(b, 101, 60, 3) == 2);
  CHECK(s.add(c, 102, 60, 3) == 3);
  CHECK(s.add(a, 103, 60, 3) == 3);  // seen again: refreshed, not added
  CHECK(s.add(d, 104, 60, 3) == 3);  // full: b (seen at 101) is the stalest and goes
  // At 163, c (102) has expired, leaving a (103) and d (104): b is new again, so the
  // count is 3. Had a been dropped instead of b, b and c would have expired: 2.
  CHECK(s.add(b, 163, 60, 3) == 3);
  // At 164 a expires too; d is still there and is not counted twice.
  CHECK(s.add(d, 164, 60, 3) == 2);
  // A copy keeps its own entries.
  DistinctSet<2> copy = s;
  CHECK(copy.add(9, 165, 60, 3) == 3);
  CHECK(s.add(d, 165, 60, 3) == 2);
}
