#include "fleet/fleet_report.hpp"

#include "report/format.hpp"
#include "report/periods.hpp"
#include "store/schema.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace smtp::fleet {
namespace {

// The columns the report reads (store/pack.hpp kSessionKeysSelect) and start_ms.
constexpr const char* kLocalTable =
    "CREATE TABLE sessions (start_ms INTEGER NOT NULL, domain TEXT NOT NULL, auth_user TEXT NOT NULL, "
    "auth_result TEXT NOT NULL, client_ip TEXT NOT NULL, blocked INTEGER NOT NULL, bad_commands INTEGER NOT NULL, "
    "termination TEXT NOT NULL, permanent_failures INTEGER NOT NULL, bytes_in INTEGER NOT NULL, "
    "bytes_out INTEGER NOT NULL, messages INTEGER NOT NULL);"
    // The report prepares its trend statement up front; at version 2 it reads no unit.
    "CREATE TABLE rollup_trend (level INTEGER, start INTEGER, new_connections INTEGER, blocked_connections INTEGER, "
    "bad_commands INTEGER, terminations INTEGER, bandwidth_bytes INTEGER, messages INTEGER);"
    // Version 2: the report then reads every period from the rows (no roll-ups in use).
    "PRAGMA user_version = 2;";

std::string quote_literal(PGconn* c, std::string_view s) {
  char* q = PQescapeLiteral(c, s.data(), s.size());
  if (!q) throw PgError(PQerrorMessage(c), "");
  std::string out(q);
  PQfreemem(q);
  return out;
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
  const auto t0 = std::chrono::steady_clock::now();
  const auto periods = report::make_periods(q);
  std::int64_t lo = 0, hi = 0;
  if (!periods.empty()) {
    lo = periods.front().begin_ms, hi = periods.front().end_ms;
    for (const auto& p : periods) lo = std::min(lo, p.begin_ms), hi = std::max(hi, p.end_ms);
  }
  const bool by_sensor = q.mode == report::Mode::sensor;
  std::string sql = std::string("COPY (SELECT start_ms, ") + (by_sensor ? "sensor" : "domain") +
                    ", auth_user, auth_result, client_ip, blocked::int, bad_commands, termination, permanent_failures, "
                    "bytes_in, bytes_out, messages FROM sessions WHERE start_ms >= " +
                    std::to_string(lo) + " AND start_ms < " + std::to_string(hi);
  if (!sensors.empty()) {
    sql += " AND sensor IN (";
    for (std::size_t i = 0; i < sensors.size(); ++i) {
      if (i > 0) sql += ',';
      sql += quote_literal(db.get(), sensors[i]);
    }
    sql += ")";
  }
  if (by_sensor && q.domain) sql += " AND domain = " + quote_literal(db.get(), *q.domain);
  sql += ") TO STDOUT";

  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    throw std::runtime_error("cannot open an in-memory store");
  }
  SqlitePtr mem(raw, &sqlite3_close);
  store::exec(raw, kLocalTable);
  store::exec(raw, "BEGIN");
  auto ins = store::prepare(raw, "INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!ins) throw std::runtime_error(sqlite3_errmsg(raw));

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
    if (f.size() != 12) throw std::runtime_error("fleet report: unexpected row from the fleet database");
    auto* st = ins.get();
    for (int i = 0; i < 12; ++i) {
      const auto& v = f[static_cast<std::size_t>(i)];
      const bool text = i == 1 || i == 2 || i == 3 || i == 4 || i == 7;
      if (text) sqlite3_bind_text(st, i + 1, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      else sqlite3_bind_int64(st, i + 1, std::strtoll(v.c_str(), nullptr, 10));
    }
    if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(raw));
    sqlite3_reset(st);
    ++n;
  }
  Result end(PQgetResult(db.get()));
  while (PGresult* more = PQgetResult(db.get())) PQclear(more);
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
    throw PgError(end ? PQresultErrorMessage(end.get()) : PQerrorMessage(db.get()), "");
  ins.reset();
  store::exec(raw, "CREATE INDEX sessions_start ON sessions(start_ms)");
  store::exec(raw, "COMMIT");
  if (stats) {
    stats->sessions = n;
    stats->fetch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return mem;
}

void write_fleet_report(const ConnectInfo& info, const report::Query& query, const std::vector<std::string>& sensors,
                        const std::function<void(std::string_view)>& write, FleetReportStats* stats) {
  Connection db(info);
  auto mem = load_fleet_sessions(db, query, sensors, stats);
  report::Query scan = query;
  // Sensor mode applied --domain in the database; the domain column now names sensors.
  if (query.mode == report::Mode::sensor) scan.domain.reset();
  report::write_report(mem.get(), scan, write);
}

}  // namespace smtp::fleet
