// Runs a report query against the session store: reads the roll-ups (trend rows, key
// packs) for whole UTC units and the session rows only where a period's edge cuts a
// unit that has none (see DESIGN.md, Reports).
#pragma once

#include "report/periods.hpp"
#include "report/query.hpp"
#include "store/pack.hpp"
#include "store/time_units.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace smtp::report {

struct Counters {
  std::int64_t new_connections = 0;
  std::int64_t blocked_connections = 0;
  std::int64_t bad_commands = 0;
  std::int64_t terminations = 0;
  std::int64_t bandwidth_bytes = 0;
  std::int64_t messages = 0;
};

struct Row {
  std::uint32_t period = 0;  // index into Report::periods
  std::uint32_t key = 0;     // index into Report::keys
  Counters counters;
};

struct Report {
  Query query;
  std::vector<Period> periods;
  std::vector<std::string> keys;  // domains, users or IPs; one "" in trend mode
  std::vector<Row> rows;          // sorted and cut to --top

  const std::string& label(const Row& r) const { return periods[r.period].label; }
  const std::string& key(const Row& r) const { return keys[r.key]; }
};

// What a run cost, for the benchmark and for tests that check the roll-ups were used.
struct ReportStats {
  std::uint64_t rollup_rows = 0;   // trend rows and pack entries read
  std::uint64_t session_rows = 0;  // session rows read
};

// The roll-ups a query reads, and their levels for the query's step, coarsest first,
// down to quarter hours, of which every local period is made: trend reads the
// rollup_trend rows, a drill-down or a key mode the packs. The fleet report
// (fleet/fleet_report.cpp) plans with it too, to fetch what this report will read.
struct Source {
  bool packs = false;  // key packs, else rollup_trend (or rows only)
  store::PackKind kind = store::PackKind::domain;
  std::vector<store::Level> chain;
};
Source report_source(const Query& q, int schema);

// Opens the store read-only (never creating it); throws StoreUnavailable.
sqlite3* open_report_store(const std::string& path);

// The packs of one unit that the query's scope takes (its direction and listener), each
// handed to `each` as a view that stays valid until the report returns. Given, it stands
// in for the store's rollup_pack: the fleet report hands over what PostgreSQL sent instead
// of copying a year of packs into SQLite first (bench/README.md, issue 22).
using PackSource = std::function<void(store::Level level, std::int64_t start,
                                      const std::function<void(std::string_view pack)>& each)>;

// Gets each row of the report in period then key order (periods last first when the
// query sorts by period descending), keys ascending; returns false to stop early.
using RowSink = std::function<bool(std::uint32_t period, std::string_view key, const Counters& counters)>;

// Feeds sink the rows of the periods (make_periods(query)). Throws QueryError,
// StoreUnavailable, or std::runtime_error for SQLite failures.
void scan_report(sqlite3* db, const Query& query, const std::vector<Period>& periods, const RowSink& sink,
                 ReportStats* stats = nullptr, const PackSource* packs = nullptr);

// The whole report in memory, sorted and cut to --top.
Report run_report(sqlite3* db, const Query& query, ReportStats* stats = nullptr, const PackSource* packs = nullptr);
Report run_report(const std::string& store_path, const Query& query, ReportStats* stats = nullptr);

}  // namespace smtp::report
