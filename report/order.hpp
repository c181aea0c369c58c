// The order of a report's rows (--sort, --desc) and the cut to --top.
#pragma once

#include "report/report.hpp"

#include <cstdint>

namespace smtp::report {

inline double per_message(const Counters& c) {
  return c.messages == 0 ? -1.0 : static_cast<double>(c.new_connections) / static_cast<double>(c.messages);
}

inline std::int64_t counter(const Counters& c, Column col) {
  switch (col) {
    case Column::new_connections: return c.new_connections;
    case Column::blocked_connections: return c.blocked_connections;
    case Column::bad_commands: return c.bad_commands;
    case Column::terminations: return c.terminations;
    case Column::bandwidth_bytes: return c.bandwidth_bytes;
    case Column::messages: return c.messages;
    default: return 0;
  }
}

// Whether row a sorts before row b in the query's order; key_cmp(a, b) compares their
// keys as text (<0, 0, >0). Ties fall back to period, then key, both ascending. Rows
// without messages have no ratio and sort last in either direction.
template <class KeyCmp>
bool before(const Query& q, const Row& a, const Row& b, KeyCmp key_cmp) {
  int r = 0;  // <0: a first
  switch (q.sort) {
    case Column::period: r = a.period < b.period ? -1 : a.period > b.period ? 1 : 0; break;
    case Column::key: r = key_cmp(a, b); break;
    case Column::connections_per_message: {
      const double x = per_message(a.counters), y = per_message(b.counters);
      if ((x < 0) != (y < 0)) return y < 0;  // no ratio: last, whatever the order
      r = x < y ? -1 : x > y ? 1 : 0;
      break;
    }
    default: {
      const auto x = counter(a.counters, q.sort), y = counter(b.counters, q.sort);
      r = x < y ? -1 : x > y ? 1 : 0;
    }
  }
  if (r != 0) return q.descending ? r > 0 : r < 0;
  if (a.period != b.period) return a.period < b.period;
  return key_cmp(a, b) < 0;
}

// Sorts the rows, which arrive in period order (ascending or descending as the query sorts)
// and then key order, in the order of before(), and cuts them to --top.
void sort_rows(Report& report);

}  // namespace smtp::report
