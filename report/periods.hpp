// The periods a report is cut into: local hours, days, ISO weeks, months or quarters of
// the query's zone, each with its label and its span in UTC.
#pragma once

#include "report/query.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace smtp::report {

struct Period {
  std::string label;     // 2026-11-23T14:00+01:00, 2026-11-23, 2026-W48, 2026-11, 2026-Q4
  std::int64_t begin_ms;  // UTC, inclusive
  std::int64_t end_ms;    // UTC, exclusive
};

// Consecutive, in time order, covering exactly [from 00:00, to + 1 day 00:00) local time.
// Weeks and months at the range's ends are cut to the range. Throws QueryError for an
// unknown zone.
std::vector<Period> make_periods(const Query& query);

}  // namespace smtp::report
