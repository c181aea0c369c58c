#include "fleet/fleet_report.hpp"

#include "report/format.hpp"
#include "report/periods.hpp"
#include "store/pack.hpp"
#include "store/schema.hpp"
#include "store/time_units.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <map>
#include <utility>

namespace smtp::fleet {
namespace {

// An in-memory store as the report reads it at the current schema: packs (per the
// query's direction and listener, which PostgreSQL applied already) and the trend's
// roll-ups, with an empty sessions table (every period of every zone is made of whole
// quarter hours, so no report of it reads session rows; a unit with no pack has no
// sessions, and its finer units and rows read as empty).
const std::string kLocalTables =
    "CREATE TABLE sessions (start_ms INTEGER NOT NULL, domain TEXT NOT NULL, auth_user TEXT NOT NULL, "
    "auth_result TEXT NOT NULL, client_ip TEXT NOT NULL, blocked INTEGER NOT NULL, bad_commands INTEGER NOT NULL, "
    "termination TEXT NOT NULL, permanent_failures INTEGER NOT NULL, bytes_in INTEGER NOT NULL, "
    "bytes_out INTEGER NOT NULL, messages INTEGER NOT NULL, listener TEXT NOT NULL, upstream TEXT NOT NULL, "
    "direction INTEGER NOT NULL, user_name TEXT NOT NULL);"
    "CREATE TABLE rollup_trend (level INTEGER NOT NULL, start INTEGER NOT NULL, new_connections INTEGER NOT NULL, "
    "blocked_connections INTEGER NOT NULL, bad_commands INTEGER NOT NULL, terminations INTEGER NOT NULL, "
    "bandwidth_bytes INTEGER NOT NULL, messages INTEGER NOT NULL, PRIMARY KEY (level, start)) WITHOUT ROWID;"
    "CREATE TABLE rollup_pack (kind INTEGER NOT NULL, level INTEGER NOT NULL, start INTEGER NOT NULL, "
    "direction INTEGER NOT NULL, listener TEXT NOT NULL, data BLOB NOT NULL, "
    "PRIMARY KEY (kind, level, start, direction, listener));"
    "CREATE TABLE rollup_packed (level INTEGER NOT NULL, start INTEGER NOT NULL, PRIMARY KEY (level, start)) WITHOUT ROWID;"
    "PRAGMA user_version = " + std::to_string(store::kSchemaVersion) + ";";

// A session's keys as store/pack.cpp reads them (read_session_keys): outbound sessions
// count for their user (user_name) and their remote server (the upstream's host).
constexpr const char* kUserKey =
    "CASE WHEN direction = 1 THEN user_name WHEN auth_result = 'success' THEN auth_user ELSE '' END";
constexpr const char* kIpKey =
    "CASE WHEN direction <> 1 THEN client_ip "
    "WHEN upstream LIKE '[%' THEN CASE WHEN position(']' IN upstream) > 0 "
    "THEN substr(upstream, 2, position(']' IN upstream) - 2) ELSE '' END "
    "WHEN upstream ~ '^[^:]*:[^:]*$' THEN split_part(upstream, ':', 1) ELSE '' END";

// The six counters of store::session_counts, summed in PostgreSQL.
constexpr const char* kSums =
    "count(*), sum(blocked::int), sum(bad_commands), sum((termination <> 'quit')::int + permanent_failures), "
    "sum(bytes_in + bytes_out), sum(messages)";

std::string quote_literal(PGconn* c, std::string_view s) {
  char* q = PQescapeLiteral(c, s.data(), s.size());
  if (!q) throw PgError(PQerrorMessage(c), "");
  std::string out(q);
  PQfreemem(q);
  return out;
}

// Runs COPY (select) TO STDOUT and hands each row's fields to row.
std::uint64_t copy_out(Connection& db, const std::string& select, const std::function<void(std::vector<std::string>&)>& row) {
  const std::string sql = "COPY (" + select + ") TO STDOUT";
  Result start(PQexec(db.get(), sql.c_str()));
  if (!start || PQresultStatus(start.get()) != PGRES_COPY_OUT) {
    const char* state = start ? PQresultErrorField(start.get(), PG_DIAG_SQLSTATE) : nullptr;
    throw PgError(start ? PQresultErrorMessage(start.get()) : PQerrorMessage(db.get()), state ? state : "");
  }
  std::vector<std::string> f;
  std::uint64_t n = 0;
  for (;;) {
    char* buf = nullptr;
    const int len = PQgetCopyData(db.get(), &buf, 0);
    if (len == -1) break;  // done
    if (len < 0) throw PgError(PQerrorMessage(db.get()), "");
    std::string_view line(buf, static_cast<std::size_t>(len));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    split_copy_line(line, f);
    PQfreemem(buf);
    row(f);
    ++n;
  }
  Result end(PQgetResult(db.get()));
  while (PGresult* more = PQgetResult(db.get())) PQclear(more);
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
    throw PgError(end ? PQresultErrorMessage(end.get()) : PQerrorMessage(db.get()), "");
  return n;
}

store::Counts counts_at(const std::vector<std::string>& f, std::size_t first) {
  store::Counts c{};
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = std::strtoll(f[first + i].c_str(), nullptr, 10);
  return c;
}

}  // namespace

void split_copy_line(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  fields.emplace_back();
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\t') {
      fields.emplace_back();
    } else if (c == '\\' && i + 1 < line.size()) {
      const char e = line[++i];
      fields.back() += e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'v' ? '\v' : e;
    } else {
      fields.back() += c;
    }
  }
}

SqlitePtr load_fleet_sessions(Connection& db, const report::Query& q, const std::vector<std::string>& sensors,
                              FleetReportStats* stats) {
  using report::Mode;
  const auto t0 = std::chrono::steady_clock::now();
  const auto periods = report::make_periods(q);
  std::int64_t lo = 0, hi = 0;
  if (!periods.empty()) {
    lo = periods.front().begin_ms, hi = periods.front().end_ms;
    for (const auto& p : periods) lo = std::min(lo, p.begin_ms), hi = std::max(hi, p.end_ms);
  }
  std::string where = " FROM sessions WHERE start_ms >= " + std::to_string(lo) + " AND start_ms < " + std::to_string(hi);
  if (!sensors.empty()) {
    where += " AND sensor IN (";
    for (std::size_t i = 0; i < sensors.size(); ++i) {
      if (i > 0) where += ',';
      where += quote_literal(db.get(), sensors[i]);
    }
    where += ")";
  }
  if (q.domain) where += " AND domain = " + quote_literal(db.get(), *q.domain);
  if (q.listener) where += " AND listener = " + quote_literal(db.get(), *q.listener);
  if (q.direction != report::Direction::both) where += q.direction == report::Direction::out ? " AND direction = 1" : " AND direction = 0";
  const bool filtered = q.listener || q.direction != report::Direction::both;

  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    throw std::runtime_error("cannot open an in-memory store");
  }
  SqlitePtr mem(raw, &sqlite3_close);
  store::exec(raw, kLocalTables.c_str());
  // A hash aggregate over a month of a fleet's keys outgrows the default 4 MB and would
  // spill to disk; this is per session, for the report's connection only.
  db.exec_script("SET work_mem = '64MB'");
  store::exec(raw, "BEGIN");
  std::uint64_t groups = 0;
  // The coarsest unit every period edge falls on: UTC days (a UTC report by day or
  // coarser), hours (whole-hour zones), else quarter hours. Fewer, larger groups come back
  // from PostgreSQL; the report reads the units as it reads the local store's.
  auto all_on = [&](std::int64_t unit_ms) {
    return std::all_of(periods.begin(), periods.end(),
                       [&](const report::Period& p) { return p.begin_ms % unit_ms == 0 && p.end_ms % unit_ms == 0; });
  };
  store::Level level = store::Level::quarter_hour;
  std::int64_t unit_s = store::kQuarterHour;
  if (all_on(store::kDay * 1000)) level = store::Level::day, unit_s = store::kDay;
  else if (all_on(store::kHour * 1000)) level = store::Level::hour, unit_s = store::kHour;
  if (q.mode == Mode::trend && !q.domain && !filtered && level == store::Level::day)
    level = store::Level::hour, unit_s = store::kHour;
  const std::string bucket = "start_ms / " + std::to_string(unit_s * 1000);
  if (q.mode == Mode::trend && !q.domain && !filtered) {
    // The whole fleet per quarter hour and per hour (both from quarter hours, or hours
    // only when every edge is on one), as the writer keeps rollup_trend.
    auto ins = store::prepare(raw, "INSERT INTO rollup_trend VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO UPDATE SET "
                                   "new_connections = new_connections + ?3, blocked_connections = blocked_connections + ?4, "
                                   "bad_commands = bad_commands + ?5, terminations = terminations + ?6, "
                                   "bandwidth_bytes = bandwidth_bytes + ?7, messages = messages + ?8");
    if (!ins) throw std::runtime_error(sqlite3_errmsg(raw));
    groups = copy_out(db, "SELECT " + bucket + ", " + kSums + where + " GROUP BY 1", [&](std::vector<std::string>& f) {
      if (f.size() != 7) throw std::runtime_error("fleet report: unexpected row from the fleet database");
      const std::int64_t qs = std::strtoll(f[0].c_str(), nullptr, 10) * unit_s;
      const auto c = counts_at(f, 1);
      const std::pair<store::Level, std::int64_t> units[] = {{store::Level::hour, qs - qs % store::kHour},
                                                             {store::Level::quarter_hour, qs}};
      for (const auto& [lv, start] : units) {
        if (lv == store::Level::quarter_hour && level != store::Level::quarter_hour) break;
        sqlite3_bind_int(ins.get(), 1, static_cast<int>(lv));
        sqlite3_bind_int64(ins.get(), 2, start);
        for (int i = 0; i < 6; ++i) sqlite3_bind_int64(ins.get(), 3 + i, c[static_cast<std::size_t>(i)]);
        if (sqlite3_step(ins.get()) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(raw));
        sqlite3_reset(ins.get());
      }
    });
  } else {
    // One pack kind, per unit, as store/packer.cpp builds them from rows: the
    // key and (for user and ip_domain) the session's domain, with what the packer leaves
    // out (empty keys, users whose AUTH failed) left out here.
    store::PackKind kind = store::PackKind::domain;
    std::string key = "domain", domain = "''", filter = " AND domain <> ''";
    switch (q.mode) {
      case Mode::user:
        kind = store::PackKind::user, key = kUserKey, domain = "domain", filter = std::string(" AND ") + kUserKey + " <> ''";
        break;
      case Mode::ip:
        kind = q.domain ? store::PackKind::ip_domain : store::PackKind::ip, key = kIpKey;
        domain = q.domain ? "domain" : "''", filter = std::string(" AND ") + kIpKey + " <> ''";
        break;
      case Mode::trend:  // filtered by direction or listener: one total per unit
        if (!q.domain) kind = store::PackKind::total, key = "''", filter.clear();
        break;
      case Mode::sensor: key = "sensor", filter.clear(); break;  // the domain column names the sensor
      default: break;
    }
    auto ins = store::prepare(raw, "INSERT INTO rollup_pack VALUES (?, ?, ?, ?, ?, ?)");
    auto packed = store::prepare(raw, "INSERT OR IGNORE INTO rollup_packed VALUES (?, ?)");
    if (!ins || !packed) throw std::runtime_error(sqlite3_errmsg(raw));
    // One scope: the one the report's scanner asks for.
    const int direction = q.direction == report::Direction::out ? 1 : 0;
    const std::string listener = q.listener.value_or("");
    // Gathered per unit here rather than sorted by PostgreSQL: its ORDER BY over the
    // groups cost more than the map.
    std::map<std::int64_t, std::vector<store::OwnedEntry>> units;
    auto flush = [&](std::int64_t unit, std::vector<store::OwnedEntry>& entries) {
      const std::string blob = store::encode_sorted(std::move(entries));
      sqlite3_bind_int(ins.get(), 1, static_cast<int>(kind));
      sqlite3_bind_int(ins.get(), 2, static_cast<int>(level));
      sqlite3_bind_int64(ins.get(), 3, unit * unit_s);
      sqlite3_bind_int(ins.get(), 4, direction);
      sqlite3_bind_text(ins.get(), 5, listener.data(), static_cast<int>(listener.size()), SQLITE_STATIC);
      sqlite3_bind_blob(ins.get(), 6, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
      if (sqlite3_step(ins.get()) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(raw));
      sqlite3_reset(ins.get());
      sqlite3_bind_int(packed.get(), 1, static_cast<int>(level));
      sqlite3_bind_int64(packed.get(), 2, unit * unit_s);
      if (sqlite3_step(packed.get()) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(raw));
      sqlite3_reset(packed.get());
    };
    const std::string select = "SELECT " + bucket + ", " + key + ", " + domain + ", " + kSums + where + filter +
                               " GROUP BY 1, 2, 3";
    groups = copy_out(db, select, [&](std::vector<std::string>& f) {
      if (f.size() != 9) throw std::runtime_error("fleet report: unexpected row from the fleet database");
      units[std::strtoll(f[0].c_str(), nullptr, 10)].push_back({std::move(f[1]), std::move(f[2]), counts_at(f, 3)});
    });
    for (auto& [unit, entries] : units) flush(unit, entries);
  }
  store::exec(raw, "COMMIT");
  if (stats) {
    stats->groups = groups;
    stats->fetch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return mem;
}

void write_fleet_report(const ConnectInfo& info, const report::Query& query, const std::vector<std::string>& sensors,
                        const std::function<void(std::string_view)>& write, FleetReportStats* stats) {
  Connection db(info);
  auto mem = load_fleet_sessions(db, query, sensors, stats);
  report::write_report(mem.get(), query, write);
}

}  // namespace smtp::fleet
