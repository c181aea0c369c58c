// The fleet report (SPEC 10): the sessions of a report's range, summed per quarter hour
// and key in the fleet database into an in-memory store of roll-ups that the local report
// code reads, so steps, modes, columns, sorts, formats and zones are the local report's,
// and so are the numbers.
#pragma once

#include "fleet/pg.hpp"
#include "report/query.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace smtp::fleet {

struct FleetReportStats {
  std::uint64_t groups = 0;  // (quarter hour, key) sums read from the fleet database
  double fetch_s = 0;        // COPY out of PostgreSQL and into the in-memory store
};

using SqlitePtr = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;

// The sessions of query's periods (of the given sensors; all when empty), summed in
// PostgreSQL per UTC quarter hour and key, as an in-memory SQLite store of quarter-hour
// roll-ups (rollup_trend, or the one pack kind the query reads) that the local report
// merges as it merges its own. Every local period of every zone is made of whole quarter
// hours, so no session row is needed. In sensor mode the packs' keys are sensor names
// (kind domain) and --domain is applied here. Throws PgError, report::QueryError.
SqlitePtr load_fleet_sessions(Connection& db, const report::Query& query, const std::vector<std::string>& sensors,
                              FleetReportStats* stats = nullptr);

// Runs the query against the fleet and hands the text to write, as report::write_report.
void write_fleet_report(const ConnectInfo& info, const report::Query& query, const std::vector<std::string>& sensors,
                        const std::function<void(std::string_view)>& write, FleetReportStats* stats = nullptr);

// Splits one COPY text line into its fields, undoing the text format's escapes. Pure,
// for the unit tests.
void split_copy_line(std::string_view line, std::vector<std::string>& fields);

}  // namespace smtp::fleet
