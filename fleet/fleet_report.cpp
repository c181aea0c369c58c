#include "fleet/fleet_report.hpp"

#include "report/format.hpp"
#include "report/periods.hpp"
#include "report/plan.hpp"
#include "report/report.hpp"
#include "store/pack.hpp"
#include "store/schema.hpp"
#include "store/time_units.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace smtp::fleet {
namespace {

// An in-memory store as the report reads it at the current schema: the trend's roll-ups
// and the units packed, with an empty sessions table (every period of every zone is made
// of whole quarter hours, and every unit the report reads is in rollup_packed, so it
// reads no session row). The packs themselves are in HeldPacks.
const std::string kLocalTables =
    "CREATE TABLE sessions (start_ms INTEGER NOT NULL, domain TEXT NOT NULL, auth_user TEXT NOT NULL, "
    "auth_result TEXT NOT NULL, client_ip TEXT NOT NULL, blocked INTEGER NOT NULL, bad_commands INTEGER NOT NULL, "
    "termination TEXT NOT NULL, permanent_failures INTEGER NOT NULL, bytes_in INTEGER NOT NULL, "
    "bytes_out INTEGER NOT NULL, messages INTEGER NOT NULL, listener TEXT NOT NULL, upstream TEXT NOT NULL, "
    "direction INTEGER NOT NULL, user_name TEXT NOT NULL);"
    "CREATE TABLE rollup_trend (level INTEGER NOT NULL, start INTEGER NOT NULL, new_connections INTEGER NOT NULL, "
    "blocked_connections INTEGER NOT NULL, bad_commands INTEGER NOT NULL, terminations INTEGER NOT NULL, "
    "bandwidth_bytes INTEGER NOT NULL, messages INTEGER NOT NULL, PRIMARY KEY (level, start)) WITHOUT ROWID;"
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

// Appends item to a comma-separated list (GCC 12 warns, falsely, of -Wrestrict about
// "," + std::string).
void list_add(std::string& list, std::string_view item) {
  if (!list.empty()) list += ',';
  list += item;
}

// One element of a PostgreSQL text[] literal, quoted.
std::string array_text(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
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

FleetStore load_fleet_sessions(Connection& db, const report::Query& q, const std::vector<std::string>& sensors) {
  using report::Mode;
  const auto periods = report::make_periods(q);
  std::int64_t lo = 0, hi = 0;
  if (!periods.empty()) {
    lo = periods.front().begin_ms, hi = periods.front().end_ms;
    for (const auto& p : periods) lo = std::min(lo, p.begin_ms), hi = std::max(hi, p.end_ms);
  }
  // The report this store is for reads what report_source says; the fleet plans with it
  // so as to fetch exactly the units that report will read.
  const report::Source src = report::report_source(q, store::kSchemaVersion);
  const bool trend_rows = !src.packs;  // the whole fleet's trend: rollup_trend rows
  const bool sensor_mode = q.mode == Mode::sensor;
  // The packs fetched: the report's kind; for the trend rows and for sensor mode the
  // totals (with --domain, sensor mode takes the domain packs' entry of that domain).
  store::PackKind fetch_kind = src.kind;
  if (trend_rows || (sensor_mode && !q.domain)) fetch_kind = store::PackKind::total;

  std::string sensor_in;  // " AND sensor IN (...)" when the report names sensors
  for (const auto& s : sensors) list_add(sensor_in, quote_literal(db.get(), s));
  if (!sensor_in.empty()) sensor_in = " AND sensor IN (" + sensor_in + ")";
  std::string scope;  // the packs' and the sessions' scope filter
  if (q.listener) scope += " AND listener = " + quote_literal(db.get(), *q.listener);
  if (q.direction != report::Direction::both) scope += q.direction == report::Direction::out ? " AND direction = 1" : " AND direction = 0";

  // Which units each sensor has packed (hour and coarser), around the range: a unit the
  // plan reads may start up to a month before it or end after it.
  std::map<std::string, std::set<std::pair<int, std::int64_t>>> packed;
  {
    const std::int64_t margin = 32 * store::kDay;
    const std::string sql = "SELECT sensor, level, start FROM packed WHERE start >= " +
                            std::to_string(store::floor_seconds(lo) - margin) + " AND start < " +
                            std::to_string(store::floor_seconds(hi) + margin) + sensor_in;
    copy_out(db, sql, [&](std::vector<std::string>& f) {
      if (f.size() != 3) throw std::runtime_error("fleet report: unexpected row from the fleet database");
      packed[f[0]].insert({std::atoi(f[1].c_str()), std::strtoll(f[2].c_str(), nullptr, 10)});
    });
  }
  // A unit is read for every sensor at once: from a sensor's pack where it has one, else
  // from its sessions summed here. So the plan takes a unit only where summing it costs no
  // more than its finer units would: each sensor has packed it, or packed nothing inside
  // it (so a month packed by three sensors, while the fourth's late session unpacked it,
  // is read as days). Quarter hours are never shipped, so they are always taken.
  auto duration = [](store::Level l, std::int64_t start) { return store::next_unit(l, start) - start; };
  auto packed_inside = [&](const std::set<std::pair<int, std::int64_t>>& units, store::Level level, std::int64_t start) {
    const std::int64_t end = store::next_unit(level, start), len = end - start;
    for (const store::Level finer : {store::Level::hour, store::Level::day, store::Level::week}) {
      if (duration(finer, start) >= len) continue;
      auto it = units.lower_bound({static_cast<int>(finer), start});
      if (it != units.end() && it->first == static_cast<int>(finer) && it->second < end) return true;
    }
    return false;
  };
  std::set<std::pair<store::Level, std::int64_t>> taken;
  report::Plan plan(src.chain, [&](store::Level level, std::int64_t start) {
    for (const auto& [sensor, units] : packed)
      if (!units.count({static_cast<int>(level), start}) && packed_inside(units, level, start)) return false;
    taken.insert({level, start});
    return true;
  });
  for (std::uint32_t p = 0; p < periods.size(); ++p) plan.add(periods[p].begin_ms, periods[p].end_ms, {p, 1});

  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    sqlite3_close(raw);
    throw std::runtime_error("cannot open an in-memory store");
  }
  FleetStore out{SqlitePtr(raw, &sqlite3_close)};
  store::exec(raw, kLocalTables.c_str());
  // A hash aggregate over a month of a fleet's keys outgrows the default 4 MB and would
  // spill to disk; this is per session, for the report's connection only. JIT compiles
  // each query's expressions (tens of ms to a second) for sums over a few units' rows.
  db.exec_script("SET work_mem = '64MB'; SET jit = off");
  store::exec(raw, "BEGIN");
  auto mark = store::prepare(raw, "INSERT OR IGNORE INTO rollup_packed VALUES (?, ?)");
  auto trend = store::prepare(raw, "INSERT INTO rollup_trend VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO UPDATE SET "
                                   "new_connections = new_connections + ?3, blocked_connections = blocked_connections + ?4, "
                                   "bad_commands = bad_commands + ?5, terminations = terminations + ?6, "
                                   "bandwidth_bytes = bandwidth_bytes + ?7, messages = messages + ?8");
  if (!mark || !trend) throw std::runtime_error(sqlite3_errmsg(raw));
  auto step_done = [&](sqlite3_stmt* st) {
    if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(raw));
    sqlite3_reset(st);
  };
  auto add_trend = [&](int level, std::int64_t start, const store::Counts& c) {
    sqlite3_bind_int(trend.get(), 1, level);
    sqlite3_bind_int64(trend.get(), 2, start);
    for (int i = 0; i < 6; ++i) sqlite3_bind_int64(trend.get(), 3 + i, c[static_cast<std::size_t>(i)]);
    step_done(trend.get());
  };
  // Every pack held is in the query's scope (PostgreSQL applied its direction and
  // listener, and the sums below are of that scope), as the report's source must give.
  auto add_pack = [&](int level, std::int64_t start, std::string_view blob) {
    out.packs->add(static_cast<store::Level>(level), start, blob);
  };
  for (const auto& [level, start] : taken) {
    sqlite3_bind_int(mark.get(), 1, static_cast<int>(level));
    sqlite3_bind_int64(mark.get(), 2, start);
    step_done(mark.get());
  }

  // 1. The sensors' packs of the units taken, asked for as runs of consecutive units per
  // sensor and level (a year by day is one run per sensor): one range scan of the primary
  // key per run instead of one lookup per unit. A run holds every unit in its range (they
  // are consecutive), so each row is of a unit the plan took.
  std::map<std::pair<store::Level, std::int64_t>, std::vector<std::string>> have;  // unit -> sensors with its pack
  std::string us, ul, ua, ub;  // the (sensor, level, from, to) runs as array literals
  for (const auto& [sensor, units] : packed) {
    int run_level = -1;
    std::int64_t run_from = 0, run_to = 0;
    auto flush_run = [&, &sensor = sensor] {
      if (run_level < 0) return;
      list_add(us, array_text(sensor));
      list_add(ul, std::to_string(run_level));
      list_add(ua, std::to_string(run_from));
      list_add(ub, std::to_string(run_to));
    };
    for (const auto& [level, start] : taken) {  // ordered by level, then start
      if (!units.count({static_cast<int>(level), start})) continue;
      have[{level, start}].push_back(sensor);
      if (run_level == static_cast<int>(level) && start == store::next_unit(level, run_to)) {
        run_to = start;
        continue;
      }
      flush_run();
      run_level = static_cast<int>(level), run_from = run_to = start;
    }
    flush_run();
  }
  // 2. The sessions of the units taken for the sensors without their pack, summed per
  // unit and key as store/packer.cpp sums them: the key and (user, ip_domain) the
  // session's domain, with what the packer leaves out (empty keys, users whose AUTH
  // failed) left out here.
  std::string key = "''", domain = "''", filter;
  if (!trend_rows) {
    switch (src.kind) {
      case store::PackKind::user: key = kUserKey, domain = "domain", filter = std::string(" AND ") + kUserKey + " <> ''"; break;
      case store::PackKind::ip: key = kIpKey, filter = std::string(" AND ") + kIpKey + " <> ''"; break;
      case store::PackKind::ip_domain:
        key = kIpKey, domain = "domain", filter = std::string(" AND ") + kIpKey + " <> ''";
        break;
      case store::PackKind::domain: key = "domain", filter = " AND domain <> ''"; break;
      case store::PackKind::total: break;
    }
    if (sensor_mode) key = "sensor", domain = "''", filter.clear();
  }
  if (q.domain) filter += " AND domain = " + quote_literal(db.get(), *q.domain);
  // The sensors read: those named, else every sensor with sessions (a loose scan of the
  // sessions' primary key, one probe per sensor), including any that ships no packs.
  std::vector<std::string> all = sensors;
  if (all.empty())
    copy_out(db,
             "WITH RECURSIVE s AS (SELECT min(sensor) AS sensor FROM sessions UNION ALL "
             "SELECT (SELECT min(sensor) FROM sessions WHERE sensor > s.sensor) FROM s WHERE s.sensor IS NOT NULL) "
             "SELECT sensor FROM s WHERE sensor IS NOT NULL",
             [&](std::vector<std::string>& f) { all.push_back(std::move(f.at(0))); });
  std::vector<std::pair<store::Level, std::int64_t>> units;
  std::string values;
  for (const auto& u : taken) {
    const auto it = have.find(u);
    std::string inc;
    for (const auto& s : all)
      if (it == have.end() || std::find(it->second.begin(), it->second.end(), s) == it->second.end())
        list_add(inc, array_text(s));
    if (inc.empty()) continue;  // every sensor's pack is read
    values += (values.empty() ? "(" : ",(") + std::to_string(units.size()) + ", " + std::to_string(u.second * 1000) + ", " +
              std::to_string(store::next_unit(u.first, u.second) * 1000) + ", " + quote_literal(db.get(), "{" + inc + "}") +
              "::text[])";
    units.push_back(u);
  }
  if (!units.empty()) {
    // Gathered per unit here rather than sorted by PostgreSQL: its ORDER BY over the
    // groups cost more than the map. Each unit is read by the start_ms index alone:
    // "sensor || ''" keeps the planner from AND-ing in a bitmap of the sensor's every
    // session from the primary key (64 ms per unit at a million sessions a sensor,
    // bench/README.md).
    std::map<std::size_t, std::vector<store::OwnedEntry>> sums;
    const std::string select = "SELECT u.i, " + key + ", " + domain + ", " + kSums + " FROM (VALUES " + values +
                               ") AS u(i, a, b, inc) JOIN sessions ON start_ms >= u.a AND start_ms < u.b "
                               "WHERE sensor || '' = ANY (u.inc)" + scope + filter + " GROUP BY 1, 2, 3";
    copy_out(db, select, [&](std::vector<std::string>& f) {
      if (f.size() != 9) throw std::runtime_error("fleet report: unexpected row from the fleet database");
      const auto i = static_cast<std::size_t>(std::strtoull(f[0].c_str(), nullptr, 10));
      if (i >= units.size()) throw std::runtime_error("fleet report: unexpected row from the fleet database");
      if (trend_rows) return add_trend(static_cast<int>(units[i].first), units[i].second, counts_at(f, 3));
      sums[i].push_back({std::move(f[1]), std::move(f[2]), counts_at(f, 3)});
    });
    for (auto& [i, entries] : sums)
      add_pack(static_cast<int>(units[i].first), units[i].second, store::encode_sorted(std::move(entries)));
  }
  // The key packs (most of a report's bytes) stream in start order on a thread of their
  // own while the report merges the units already here (HeldPacks). The trend's and
  // sensor mode's sums go to the in-memory store, so they are read first.
  const bool keyed = !trend_rows && !sensor_mode;
  const std::string sql = "SELECT p.sensor, p.level, p.start, p.data FROM packs p "
                          "JOIN unnest($1::text[], $2::smallint[], $3::bigint[], $4::bigint[]) AS u(s, l, a, b) "
                          "ON p.sensor = u.s AND p.level = u.l AND p.start >= u.a AND p.start <= u.b WHERE p.kind = " +
                          std::to_string(static_cast<int>(fetch_kind)) + scope + (keyed ? " ORDER BY p.start" : "");
  std::vector<std::string> runs{"{" + us + "}", "{" + ul + "}", "{" + ua + "}", "{" + ub + "}"};
  if (!us.empty() && !keyed) {
    std::string one;
    store::Counts total{};
    binary_rows(db, sql, runs, [&](const BinaryRow& r) {
      const std::string_view sensor = r.text(0), data = r.text(3);
      const int level = r.int16(1);
      const std::int64_t start = r.int64(2);
      // The trend and sensor mode take a pack's sum (of one domain, with --domain).
      total = {};
      bool any = false;
      store::PackReader reader(data);
      store::PackEntry e;
      while (reader.next(e)) {
        if (sensor_mode && q.domain && e.key != *q.domain) continue;
        for (std::size_t i = 0; i < total.size(); ++i) total[i] += e.counts[i];
        any = true;
      }
      if (reader.corrupt()) throw std::runtime_error("fleet report: a packed roll-up is damaged");
      if (!any) return;
      if (trend_rows) return add_trend(level, start, total);
      one.clear();
      store::encode(one, {sensor, {}, total});
      add_pack(level, start, one);
    });
  }
  store::exec(raw, "COMMIT");
  if (!us.empty() && keyed) {
    // The thread owns copies of what it reads.
    HeldPacks* packs = out.packs.get();
    packs->open_stream();
    out.fetch = std::thread([&db, packs, sql, runs = std::move(runs)] {
      pthread_setname_np(pthread_self(), "fleet-fetch");
      try {
        binary_rows(db, sql, runs, [&](const BinaryRow& r) {
          const std::int64_t start = r.int64(2);
          packs->reached(start);  // ORDER BY start: every earlier start is in
          packs->add(static_cast<store::Level>(r.int16(1)), start, r.text(3));
        });
        packs->close_stream();
      } catch (...) {
        packs->close_stream(std::current_exception());
      }
    });
  }
  return out;
}

void write_fleet_report(const ConnectInfo& info, const report::Query& query, const std::vector<std::string>& sensors,
                        const std::function<void(std::string_view)>& write) {
  Connection db(info);
  auto fleet = load_fleet_sessions(db, query, sensors);
  const report::PackSource packs = fleet.packs->source();
  report::write_report(fleet.mem.get(), query, write, &packs);
  fleet.finish();
}

}  // namespace smtp::fleet
