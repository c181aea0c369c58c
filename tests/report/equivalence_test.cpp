// The roll-up path must give exactly what summing the session rows gives, for every
// step, mode and drill-down, in zones offset by whole hours, half hours, 45 minutes and
// 14 hours, across DST changes; and a store written before the packs must upgrade and
// pack its history into the same answers.
#include "fixture.hpp"

#include <fmt/format.h>

#include <random>

using namespace report_test;
using namespace smtp::report;

namespace {

// 4,000 sessions over 2026-02-20 .. 2026-05-10, skewed over 12 domains, 30 users, 50 IPs.
std::vector<Session> random_sessions() {
  std::mt19937 rng(7);
  std::vector<Session> out;
  const std::int64_t begin = utc(2026, 2, 20), end = utc(2026, 5, 10);
  for (int i = 0; i < 4000; ++i) {
    Session s;
    s.start_ms = begin + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(end - begin));
    const unsigned d = std::min(rng() % 12, rng() % 12);
    s.domain = rng() % 20 == 0 ? "" : fmt::format("d{}.example", d);
    if (rng() % 3 == 0) {
      s.user = fmt::format("u{}@{}", rng() % 30, s.domain);
      s.auth_result = rng() % 5 == 0 ? "failure" : "success";
    }
    s.ip = rng() % 25 == 0 ? "" : fmt::format("192.0.2.{}", std::min(rng() % 50, rng() % 50));
    s.messages = rng() % 4;
    s.bad = rng() % 7 == 0 ? 1 + rng() % 3 : 0;
    s.termination = rng() % 5 == 0 ? "client_abort" : "quit";
    s.permanent_failures = rng() % 9 == 0 ? 1 : 0;
    s.blocked = rng() % 15 == 0;
    s.bytes_in = rng() % 100000;
    s.bytes_out = rng() % 1000;
    out.push_back(s);
  }
  return out;
}

// A third of the sessions delivered by the MTA through an outbound listener (the user
// its sender, the ip the remote server), a sixth on a second inbound listener.
void both_directions(std::size_t i, SessionRecord& r) {
  std::mt19937 rng(static_cast<unsigned>(i));
  if (const auto k = rng() % 6; k < 2) {
    r.outbound = true;
    r.listener = "out";
    r.user = rng() % 4 == 0 ? "" : fmt::format("s{}@{}", rng() % 20, r.domain);
    r.upstream = fmt::format("198.51.100.{}:25", std::min(rng() % 40, rng() % 40));
  } else if (k == 2) {
    r.listener = "submission";
  }
}

std::vector<std::string> queries() {
  const char* zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
                         "Australia/Lord_Howe", "Pacific/Kiritimati"};
  const char* modes[] = {"trend", "domain", "user", "ip"};
  const char* steps[] = {"hour", "day", "week", "month"};
  std::vector<std::string> out;
  for (const char* tz : zones)
    for (const char* mode : modes) {
      for (const char* step : steps) {
        // Both DST changes of Europe and the US fall in March; Lord Howe's in April.
        const char* range = std::string_view(step) == "hour" ? "from=2026-03-27&to=2026-04-06" : "from=2026-02-18&to=2026-05-12";
        out.push_back(fmt::format("{}&step={}&mode={}&tz={}", range, step, mode, tz));
        out.push_back(fmt::format("{}&step={}&mode={}&tz={}&domain=d1.example", range, step, mode, tz));
        // One direction, one listener (SPEC 14), on a zone in two.
        if (std::string_view(tz).find('/') == std::string_view::npos || std::string_view(tz) == "Asia/Kolkata") {
          out.push_back(fmt::format("{}&step={}&mode={}&tz={}&direction=out", range, step, mode, tz));
          out.push_back(fmt::format("{}&step={}&mode={}&tz={}&direction=in&domain=d1.example", range, step, mode, tz));
          out.push_back(fmt::format("{}&step={}&mode={}&tz={}&listener=submission", range, step, mode, tz));
        }
      }
      out.push_back(fmt::format("from=2026-01-01&to=2026-06-30&step=quarter&mode={}&tz={}", mode, tz));
    }
  return out;
}

std::string dump(sqlite3* db, const std::string& table) {
  std::string out;
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, ("SELECT * FROM " + table + " ORDER BY 1, 2, 3, 4").c_str(), -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const auto* t = sqlite3_column_text(st, i);
      out += t ? reinterpret_cast<const char*>(t) : "NULL";
      out += '|';
    }
    out += '\n';
  }
  sqlite3_finalize(st);
  return out;
}

}  // namespace

TEST_CASE("roll-ups give exactly what the session rows give") {
  TestStore s(random_sessions(), both_directions);
  const auto rows = s.rows_only_copy();
  std::size_t nonempty = 0;
  for (const auto& q : queries()) {
    ReportStats fast, slow;
    const auto a = csv(s.path, q, &fast);
    const auto b = csv(rows, q, &slow);
    CHECK_MESSAGE(a == b, q);
    CHECK(slow.rollup_rows == 0);
    if (std::count(a.begin(), a.end(), '\n') > 1) ++nonempty;
    // Roll-ups carry the load; rows only for the newest quarter hours.
    CHECK_MESSAGE(fast.session_rows * 2 < slow.session_rows, q);
    CHECK_MESSAGE(fast.rollup_rows > 0, q);
  }
  CHECK(nonempty == queries().size());
}

TEST_CASE("a store from before the packs upgrades, packs its history and reports the same") {
  const auto sessions = random_sessions();  // inbound only, on one listener, as a v2 store had
  TestStore written(sessions);
  // The same sessions in a v2 store, as an older release left it, then opened by the writer.
  TestStore upgraded({});
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(upgraded.path.c_str(), &db) == SQLITE_OK);
    // What v5-v9 added goes too (v5 creates the flags table that v9 extends), so the file is what a v2 release left.
    smtp::store::exec(db, "DROP TABLE flags; DROP TABLE rollup_trend; DROP TABLE rollup_pack; DROP TABLE rollup_packed; ALTER TABLE sessions DROP COLUMN direction; ALTER TABLE sessions DROP COLUMN user_name; DROP INDEX sessions_ip_start; DROP INDEX sessions_user_start; DROP INDEX sessions_domain_start; "
                             "ALTER TABLE sessions DROP COLUMN transcript_file; ALTER TABLE sessions DROP COLUMN transcript_offset; PRAGMA user_version = 2; BEGIN");
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db,
                               "INSERT INTO sessions (lcid, start_ms, end_ms, listener, client_ip, client_port, upstream, helo, "
                               "tls, auth_user, auth_result, domain, messages, recipients, commands, bad_commands, "
                               "permanent_failures, termination, blocked, bytes_in, bytes_out) "
                               "VALUES (?, ?, 0, 'smtp', ?, 1, 'u', '', 0, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)",
                               -1, &st, nullptr) == SQLITE_OK);
    std::int64_t lcid = 1;
    for (const auto& s : sessions) {
      int i = 0;
      sqlite3_bind_int64(st, ++i, lcid++);
      sqlite3_bind_int64(st, ++i, s.start_ms);
      sqlite3_bind_text(st, ++i, s.ip.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, ++i, s.user.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, ++i, s.auth_result.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, ++i, s.domain.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, ++i, s.messages);
      sqlite3_bind_int64(st, ++i, s.bad);
      sqlite3_bind_int64(st, ++i, s.permanent_failures);
      sqlite3_bind_text(st, ++i, s.termination.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, ++i, s.blocked);
      sqlite3_bind_int64(st, ++i, static_cast<std::int64_t>(s.bytes_in));
      sqlite3_bind_int64(st, ++i, static_cast<std::int64_t>(s.bytes_out));
      REQUIRE(sqlite3_step(st) == SQLITE_DONE);
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    smtp::store::exec(db, "COMMIT");
    sqlite3_close(db);
  }
  {
    // Migrates v2 -> v3 (trend back-filled) -> v4, then packs every closed unit.
    smtp::store::SessionStore store(upgraded.path, std::chrono::hours(24 * 365 * 100), 16);
    store.flush();
  }
  sqlite3* a = smtp::store::open_store(written.path, true);
  sqlite3* b = smtp::store::open_store(upgraded.path, true);
  CHECK(smtp::store::schema_version(b) == smtp::store::kSchemaVersion);
  const auto trend = dump(a, "rollup_trend");
  CHECK(trend.size() > 1000);
  CHECK(trend == dump(b, "rollup_trend"));
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(b, "SELECT count(*) FROM rollup_packed WHERE level = 1", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  // Every day (each kind) from the week holding the first of the first month, 2026-01-26,
  // up to the last one that ended 10 minutes before the newest session started.
  std::int64_t newest = 0;
  for (const auto& x : sessions) newest = std::max(newest, x.start_ms);
  const auto days = (newest / 1000 - smtp::store::Packer::kGrace) / 86400 - utc(2026, 1, 26) / 86'400'000;
  CHECK(days > 60);
  CHECK(sqlite3_column_int(st, 0) == days);
  sqlite3_finalize(st);
  sqlite3_close(a);
  sqlite3_close(b);
  for (const auto& q : queries()) CHECK_MESSAGE(csv(written.path, q) == csv(upgraded.path, q), q);
}

TEST_CASE("--top with a sort keeps exactly the first rows of the whole sorted report") {
  TestStore s(random_sessions());
  const char* sorts[] = {"new_connections", "bandwidth_bytes", "messages", "connections_per_message", "key", "period"};
  for (const char* base : {"from=2026-02-18&to=2026-05-12&step=week&mode=ip&tz=UTC",
                           "from=2026-03-01&to=2026-03-31&step=day&mode=user&tz=Asia/Kolkata",
                           "from=2026-02-18&to=2026-05-12&step=month&mode=domain&tz=UTC"})
    for (const char* sort : sorts)
      for (const char* order : {"asc", "desc"}) {
        const auto q = fmt::format("{}&sort={}&order={}", base, sort, order);
        const auto whole = csv(s.path, q);
        std::vector<std::string> lines;
        for (std::size_t at = 0; at < whole.size();) {
          const auto end = whole.find("\r\n", at) + 2;
          lines.push_back(whole.substr(at, end - at));
          at = end;
        }
        REQUIRE(lines.size() > 30);
        for (const std::size_t top : {1, 7, 50}) {
          std::string expect;  // the header, then up to top rows
          for (std::size_t i = 0; i <= std::min(top, lines.size() - 1); ++i) expect += lines[i];
          CHECK_MESSAGE(csv(s.path, fmt::format("{}&top={}", q, top)) == expect, q, " top ", top);
        }
      }
}
