// Which roll-up units and which spans of session rows each period of a report reads,
// and with which sign (see Plan).
#pragma once

#include "store/time_units.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace smtp::report {

// A period's claim on a unit or span: +1 adds it, -1 takes it away.
struct Ref {
  std::uint32_t period;
  int sign;
};

// A period [a, b) is read as the whole roll-up units between the unit boundaries
// nearest to a and b, corrected by the slivers between those boundaries and a and b:
// added when the sliver lies inside the period, subtracted when it lies outside.
// Slivers go one level finer each time, down to the session rows, and so does a unit
// the store has no roll-up for (a key unit not packed yet). So a local day in Berlin
// costs one day pack plus one hour pack, and a month costs one month pack plus its
// edges.
class Plan {
 public:
  using Level = store::Level;
  // Whether the store has the roll-up of the unit starting at start (Unix seconds).
  using Available = std::function<bool(Level, std::int64_t)>;
  // chain: the levels to use, coarsest first.
  Plan(std::vector<Level> chain, Available available) : chain_(std::move(chain)), available_(std::move(available)) {}

  // Adds the period's span [a, b) (UTC milliseconds).
  void add(std::int64_t a, std::int64_t b, Ref ref, std::size_t depth = 0);

  struct Unit {
    Level level;
    std::int64_t start;  // s
    int sign;
  };
  struct Span {
    std::int64_t begin, end;  // ms
    int sign;
  };
  struct Reads {
    std::vector<Unit> units;
    std::vector<Span> spans;
  };
  // What each period reads, refs that cancel (+p and -p on one span) dropped.
  std::vector<Reads> per_period(std::size_t periods) const;

 private:
  std::vector<Level> chain_;
  Available available_;
  std::map<Level, std::map<std::int64_t, std::vector<Ref>>> units_;  // unit start (s) -> refs
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<Ref>> spans_;  // [ms, ms) of session rows
};

}  // namespace smtp::report
