// The fleet report (SPEC 10): the sensors' shipped packs of the units a report reads, and
// their sessions summed per unit and key where no pack covers, in an in-memory store of
// roll-ups that the local report code reads and merges, so steps, modes, columns, sorts,
// formats and zones are the local report's, and so are the numbers.
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
  std::uint64_t groups = 0;  // (unit, key) sums of sessions read from the fleet database
  std::uint64_t packs = 0;   // the sensors' packs read
  std::uint64_t units = 0;   // UTC units the report reads
  double fetch_s = 0;        // COPY out of PostgreSQL and into the in-memory store
};

using SqlitePtr = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;

// The units the report of query will read (report::report_source, report::Plan), as an
// in-memory SQLite store shaped like the local one: per unit, each sensor's shipped pack
// (fleet table packs) where it has one, else its sessions summed in PostgreSQL; the
// report then merges a unit's packs across sensors as it merges scopes. A unit is read
// where every sensor has its pack or packed nothing inside it, else its finer units are.
// The whole fleet's trend is summed into rollup_trend rows from the total packs. In
// sensor mode the packs' keys are sensor names (kind domain) and --domain is applied
// here. Throws PgError, report::QueryError.
SqlitePtr load_fleet_sessions(Connection& db, const report::Query& query, const std::vector<std::string>& sensors,
                              FleetReportStats* stats = nullptr);

// Runs the query against the fleet and hands the text to write, as report::write_report.
void write_fleet_report(const ConnectInfo& info, const report::Query& query, const std::vector<std::string>& sensors,
                        const std::function<void(std::string_view)>& write, FleetReportStats* stats = nullptr);

// Splits one COPY text line into its fields, undoing the text format's escapes. Pure,
// for the unit tests.
void split_copy_line(std::string_view line, std::vector<std::string>& fields);

}  // namespace smtp::fleet
