// The fleet report (SPEC 10): the sensors' shipped packs of the units a report reads, and
// their sessions summed per unit and key where no pack covers, handed to the local report
// code to merge, so steps, modes, columns, sorts, formats and zones are the local
// report's, and so are the numbers.
#pragma once

#include "fleet/held_packs.hpp"
#include "fleet/pg.hpp"
#include "report/query.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

struct sqlite3;

namespace smtp::fleet {

using SqlitePtr = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;

// What the local report code reads for the fleet: an in-memory SQLite store shaped like
// the local one (the units taken in rollup_packed, the trend in rollup_trend, no
// sessions) and the packs, held apart (report::PackSource). The key packs may still be
// arriving on the connection load_fleet_sessions was given, from a thread of their own:
// finish() waits for it (and throws what it met); the destructor waits too.
struct FleetStore {
  explicit FleetStore(SqlitePtr db) : mem(std::move(db)), packs(std::make_unique<HeldPacks>()) {}
  FleetStore(FleetStore&&) = default;
  ~FleetStore() {
    if (fetch.joinable()) fetch.join();
  }
  void finish() {
    if (fetch.joinable()) fetch.join();
    packs->rethrow();
  }

  SqlitePtr mem;
  std::unique_ptr<HeldPacks> packs;  // put: the fetch thread holds its address
  std::thread fetch;
};

// The units the report of query will read (report::report_source, report::Plan): per
// unit, each sensor's shipped pack (fleet table packs) where it has one, else its
// sessions summed in PostgreSQL and packed here; the report then merges a unit's packs
// across sensors as it merges scopes. A unit is read where every sensor has its pack or
// packed nothing inside it, else its finer units are. The whole fleet's trend is summed
// into rollup_trend rows from the total packs. In sensor mode the packs' keys are sensor
// names (kind domain) and --domain is applied here. db must outlive the result (it may
// still be streaming key packs). Throws PgError, report::QueryError.
FleetStore load_fleet_sessions(Connection& db, const report::Query& query, const std::vector<std::string>& sensors);

// Runs the query against the fleet and hands the text to write, as report::write_report.
void write_fleet_report(const ConnectInfo& info, const report::Query& query, const std::vector<std::string>& sensors,
                        const std::function<void(std::string_view)>& write);

// Splits one COPY text line into its fields, undoing the text format's escapes. Pure,
// for the unit tests.
void split_copy_line(std::string_view line, std::vector<std::string>& fields);

}  // namespace smtp::fleet
