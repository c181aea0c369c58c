#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "store/pack.hpp"
#include "store/schema.hpp"
#include "store/session_store.hpp"
#include "tests/file_size_limit.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>
#include <filesystem>
#include <string_view>

using namespace smtp::store;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("store-test-" + std::to_string(getpid()) + "-" +
                                                                         std::to_string(counter++));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  static inline int counter = 0;
};

std::int64_t query_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const auto v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Noon (UTC) of a day some days back: a session a second or a minute later falls in the same hour,
// day and week, whenever the test runs (one run just before midnight once split them).
std::int64_t noon_days_ago(int days) {
  constexpr std::int64_t kDay = 24 * 3600 * 1000LL;
  const auto then = now_ms() - days * kDay;
  return then - then % kDay + kDay / 2;
}

SessionRecord record(std::uint64_t lcid, std::int64_t start_ms) {
  SessionRecord r;
  r.lcid = lcid;
  r.start_ms = start_ms;
  r.end_ms = start_ms + 1500;
  r.listener = "smtp";
  r.client_ip = "192.0.2.7";
  r.client_port = 40000;
  r.upstream = "127.0.0.1:25";
  r.helo = "client.example";
  r.auth_user = "alice@example.com";
  r.auth_result = "success";
  r.domain = "example.com";
  r.messages = 2;
  r.recipients = 3;
  r.commands = 9;
  r.bad_commands = 1;
  r.termination = "quit";
  r.bytes_in = 12345;
  r.bytes_out = 678;
  return r;
}

}  // namespace

TEST_CASE("rows written by the writer thread read back intact") {
  TempDir dir;
  const auto path = (dir.path / "sub" / "sessions.db").string();
  {
    SessionStore store(path, 400 * 24h, 10000);
    for (std::uint64_t i = 0; i < 2500; ++i) store.submit(record(1000 + i, now_ms()));
    store.flush();
    CHECK(store.written() == 2500);
    CHECK(store.dropped() == 0);
  }
  sqlite3* db = open_store(path, /*read_only=*/true);
  CHECK(query_int(db, "SELECT count(*) FROM sessions") == 2500);
  CHECK(query_int(db, "SELECT sum(bytes_in) FROM sessions WHERE lcid = 1000") == 12345);
  CHECK(query_int(db, "SELECT count(*) FROM sessions WHERE auth_user = 'alice@example.com' AND messages = 2") == 2500);
  CHECK(schema_version(db) == kSchemaVersion);
  sqlite3_close(db);
}

TEST_CASE("a full queue drops and counts instead of blocking") {
  TempDir dir;
  SessionStore store((dir.path / "sessions.db").string(), 400 * 24h, 16);
  for (std::uint64_t i = 0; i < 20000; ++i) store.submit(record(i, now_ms()));
  store.flush();
  CHECK(store.dropped() > 0);
  CHECK(store.written() + store.dropped() == 20000);
}

TEST_CASE("a batch the disk refuses is rolled back and counted, told once, and writing resumes") {
  TempDir dir;
  std::mutex m;
  std::vector<std::pair<bool, std::string>> told;
  auto health = [&](bool ok, const std::string& why) {
    std::lock_guard lock(m);
    told.emplace_back(ok, why);
  };
  auto wait_for = [](auto done) {
    for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
    return done();
  };
  SessionStore store((dir.path / "sessions.db").string(), 400 * 24h, 100000, {}, health);
  store.submit(record(1, now_ms()));
  store.flush();
  REQUIRE(store.written() == 1);
  bool refused = false;
  {
    smtp::test::FileSizeLimit full(8192);  // SQLite's writes past 8 KiB fail
    for (std::uint64_t i = 0; i < 2000; ++i) store.submit(record(100 + i, now_ms()));
    refused = wait_for([&] { return store.dropped() == 2000; });
  }
  CHECK(refused);
  CHECK(store.written() == 1);
  for (std::uint64_t i = 0; i < 10; ++i) store.submit(record(5000 + i, now_ms()));
  CHECK(wait_for([&] { return store.written() == 11; }));
  store.flush();
  std::lock_guard lock(m);
  REQUIRE(told.size() == 2);  // once when it failed, once when it worked again
  CHECK(!told[0].first);
  CHECK(!told[0].second.empty());
  CHECK(told[1] == std::pair<bool, std::string>{true, ""});
}

TEST_CASE("packing rests while the disk refuses its writes, then finishes") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  auto cpu_s = [] {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  SessionStore store(path, 400 * 24h, 100000);
  // A session 20 days back: some two thousand quarter hours and their parents to pack.
  store.submit(record(1, noon_days_ago(20)));
  for (int i = 0; i < 500 && store.written() == 0; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(store.written() == 1);
  double used = 0;
  {
    smtp::test::FileSizeLimit full(8192);
    std::this_thread::sleep_for(200ms);  // the packer meets the limit
    const double before = cpu_s();
    std::this_thread::sleep_for(1s);
    used = cpu_s() - before;
  }
  CHECK_MESSAGE(used < 0.3, "the writer used " << used << " s of CPU in 1 s against a full disk");
  // Packing resumes (flush does not wait out a rest: with a disk that stays full, a
  // shutdown would never end) and reaches the session's quarter hour.
  sqlite3* db = open_store(path, /*read_only=*/true);
  std::int64_t packed = 0;
  for (int i = 0; i < 1000 && packed < 1900; ++i, std::this_thread::sleep_for(10ms))
    packed = query_int(db, "SELECT count(*) FROM rollup_packed WHERE level = 4");
  sqlite3_close(db);
  CHECK(packed > 1900);
}

TEST_CASE("reopening keeps data and does not migrate twice") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  {
    SessionStore store(path, 400 * 24h, 100);
    store.submit(record(1, now_ms()));
  }
  {
    SessionStore store(path, 400 * 24h, 100);
    store.submit(record(2, now_ms()));
  }
  sqlite3* db = open_store(path, true);
  CHECK(query_int(db, "SELECT count(*) FROM sessions") == 2);
  CHECK(query_int(db, "PRAGMA journal_mode = WAL") >= 0);
  sqlite3_close(db);
}

TEST_CASE("retention prunes old rows when the writer starts") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  {
    SessionStore store(path, 400 * 24h, 100);
    store.submit(record(1, now_ms() - 3 * 24 * 3600 * 1000LL));
    store.submit(record(2, now_ms()));
  }
  { SessionStore store(path, 24h, 100); store.flush(); }
  sqlite3* db = open_store(path, true);
  CHECK(query_int(db, "SELECT count(*) FROM sessions") == 1);
  CHECK(query_int(db, "SELECT lcid FROM sessions") == 2);
  sqlite3_close(db);
}

TEST_CASE("a store that cannot be opened is an error, not a crash") {
  CHECK_THROWS_AS(SessionStore("/proc/nonexistent/dir/x.db", 24h, 10), std::runtime_error);
}

TEST_CASE("a version 1 store upgrades in place and keeps its rows") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    // The v1 schema as release 1 wrote it, with one row.
    exec(db,
         "CREATE TABLE sessions (lcid INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, "
         "listener TEXT NOT NULL, client_ip TEXT NOT NULL, client_port INTEGER NOT NULL, upstream TEXT NOT NULL, "
         "helo TEXT NOT NULL, tls INTEGER NOT NULL, auth_user TEXT NOT NULL, auth_result TEXT NOT NULL, "
         "domain TEXT NOT NULL, messages INTEGER NOT NULL, recipients INTEGER NOT NULL, commands INTEGER NOT NULL, "
         "bad_commands INTEGER NOT NULL, permanent_failures INTEGER NOT NULL, termination TEXT NOT NULL, "
         "blocked INTEGER NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL);"
         "INSERT INTO sessions VALUES (7, strftime('%s','now') * 1000, strftime('%s','now') * 1000, 'smtp', '192.0.2.1', 1, 'u', 'h', 0, '', '', 'd', 0, 0, 0, 0, 0, "
         "'quit', 0, 10, 20);"
         "PRAGMA user_version=1;");
    sqlite3_close(db);
  }
  {
    SessionStore store(path, 400 * 24h, 100);
    auto r = record(8, now_ms());
    r.tls = true;
    r.tls_version = "TLSv1.3";
    r.tls_cipher = "TLS_AES_256_GCM_SHA384";
    store.submit(r);
  }
  sqlite3* db = open_store(path, true);
  CHECK(schema_version(db) == kSchemaVersion);
  CHECK(query_int(db, "SELECT count(*) FROM sessions WHERE lcid = 7 AND tls_version = ''") == 1);
  CHECK(query_int(db, "SELECT count(*) FROM sessions WHERE lcid = 8 AND tls_version = 'TLSv1.3' AND "
                      "tls_cipher = 'TLS_AES_256_GCM_SHA384'") == 1);
  sqlite3_close(db);
}

// The sum of one counter over a unit's packs of one kind (every scope, or the one
// named: "in:smtp", "out:out"), or -1 if the unit is not packed.
static std::int64_t pack_sum(sqlite3* db, PackKind kind, Level level, std::int64_t at_ms, std::string_view key = {},
                      std::size_t counter = 0, std::string_view scope = {}) {
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT 1 FROM rollup_packed WHERE level = ?1 AND start = ?2", -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_int(st, 1, static_cast<int>(level));
  sqlite3_bind_int64(st, 2, unit_start(level, at_ms / 1000));
  const bool packed = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  if (!packed) return -1;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT direction, listener, data FROM rollup_pack WHERE kind = ?1 AND level = ?2 AND start = ?3",
                             -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_int(st, 1, static_cast<int>(kind));
  sqlite3_bind_int(st, 2, static_cast<int>(level));
  sqlite3_bind_int64(st, 3, unit_start(level, at_ms / 1000));
  std::int64_t sum = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const std::string name = std::string(sqlite3_column_int(st, 0) ? "out:" : "in:") +
                             reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    if (!scope.empty() && name != scope) continue;
    PackReader r(std::string_view(static_cast<const char*>(sqlite3_column_blob(st, 2)),
                                  static_cast<std::size_t>(sqlite3_column_bytes(st, 2))));
    PackEntry e;
    while (r.next(e))
      if (key.empty() || e.key == key) sum += e.counts[counter];
  }
  sqlite3_finalize(st);
  return sum;
}

TEST_CASE("roll-ups are written with the rows, packed once their units are over, and pruned with them") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  const auto old_ms = noon_days_ago(3);
  {
    SessionStore store(path, 400 * 24h, 100);
    store.submit(record(1, old_ms));
    store.submit(record(2, now_ms()));
    auto r = record(3, now_ms());
    r.auth_result = "failure";  // a failed login has no user in the report
    r.domain = "";              // and no domain
    store.submit(r);
    store.flush();
    sqlite3* db = open_store(path, true);
    CHECK(query_int(db, "SELECT sum(new_connections) FROM rollup_trend WHERE level = 0") == 3);
    CHECK(query_int(db, "SELECT sum(bandwidth_bytes) FROM rollup_trend WHERE level = 4") == 3 * 13023);
    // The old session's hour and day are over (and 10 minutes more): packed.
    CHECK(pack_sum(db, PackKind::domain, Level::hour, old_ms, "example.com") == 1);
    CHECK(pack_sum(db, PackKind::user, Level::day, old_ms, "alice@example.com") == 1);
    CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms, "192.0.2.7") == 1);
    CHECK(pack_sum(db, PackKind::ip_domain, Level::day, old_ms, "192.0.2.7") == 1);
    // Per session: bad 1, quit without failures, 12345 + 678 bytes, 2 messages.
    CHECK(pack_sum(db, PackKind::domain, Level::day, old_ms, {}, 2) == 1);
    CHECK(pack_sum(db, PackKind::domain, Level::day, old_ms, {}, 3) == 0);
    CHECK(pack_sum(db, PackKind::domain, Level::day, old_ms, {}, 4) == 13023);
    CHECK(pack_sum(db, PackKind::domain, Level::day, old_ms, {}, 5) == 2);
    // The current hour is not over: no pack yet (a report reads its rows).
    CHECK(pack_sum(db, PackKind::ip, Level::hour, now_ms()) == -1);
    sqlite3_close(db);
  }
  { SessionStore store(path, 24h, 100); store.flush(); }
  sqlite3* db = open_store(path, true);
  CHECK(query_int(db, "SELECT count(*) FROM sessions") == 2);
  CHECK(query_int(db, "SELECT sum(new_connections) FROM rollup_trend WHERE level = 0") == 2);
  CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms) == -1);
  CHECK(pack_sum(db, PackKind::ip, Level::hour, old_ms) == -1);
  sqlite3_close(db);
}

TEST_CASE("a late session deletes the packs of its units; hours and days are packed again at once") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  const auto old_ms = noon_days_ago(15);  // its ISO week is over too
  SessionStore store(path, 400 * 24h, 100);
  store.submit(record(1, old_ms));
  store.submit(record(2, now_ms()));
  store.flush();
  sqlite3* db = open_store(path, true);
  CHECK(pack_sum(db, PackKind::ip, Level::hour, old_ms) == 1);
  CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms) == 1);
  CHECK(pack_sum(db, PackKind::ip, Level::week, old_ms) == 1);
  // A session of that hour, written late (it ended just now, say).
  store.submit(record(3, old_ms + 60'000));
  store.flush();
  CHECK(pack_sum(db, PackKind::ip, Level::hour, old_ms) == 2);
  CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms) == 2);
  // A week is merged again only after Packer::kRemergeDelay: until then a report reads
  // its days, which are right.
  CHECK(pack_sum(db, PackKind::ip, Level::week, old_ms) == -1);
  sqlite3_close(db);
}

TEST_CASE("the migration progress hook runs only when there is a migration to run") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  int calls = 0;
  { SessionStore store(path, 400 * 24h, 100, [&] { ++calls; }); }
  CHECK(calls == 1);  // a new file migrates from version 0
  { SessionStore store(path, 400 * 24h, 100, [&] { ++calls; }); }
  CHECK(calls == 1);  // already current: nothing to say
  sqlite3* db = open_store(path);
  // What v5-v9 added goes too (v5 creates the flags table that v9 extends), so the file is what a v2 release left.
  exec(db, "DROP TABLE flags; DROP TABLE rollup_trend; DROP TABLE rollup_pack; DROP TABLE rollup_packed; ALTER TABLE sessions DROP COLUMN direction; ALTER TABLE sessions DROP COLUMN user_name; DROP INDEX sessions_ip_start; DROP INDEX sessions_user_start; DROP INDEX sessions_domain_start; "
                             "ALTER TABLE sessions DROP COLUMN transcript_file; ALTER TABLE sessions DROP COLUMN transcript_offset; PRAGMA user_version = 2");
  sqlite3_close(db);
  db = open_store(path, false, [&] { ++calls; });
  CHECK(calls == 2);
  CHECK(schema_version(db) == kSchemaVersion);
  sqlite3_close(db);
}

TEST_CASE("a unit whose children's packs are too big to merge is left to its children") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  const auto old_ms = noon_days_ago(2);
  {
    SessionStore store(path, 400 * 24h, 100);
    store.submit(record(1, old_ms));
    store.submit(record(2, now_ms()));
    store.flush();
  }
  sqlite3* db = open_store(path);
  REQUIRE(pack_sum(db, PackKind::ip, Level::day, old_ms) == 1);
  exec(db, "DELETE FROM rollup_pack WHERE level = 1; DELETE FROM rollup_packed WHERE level = 1");
  {
    // 20 bytes: an hour holding one session already packs more than that.
    Packer small(db, 20);
    CHECK_FALSE(small.run(Packer::Clock::now() + 10s));
    CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms) == -1);
    CHECK(pack_sum(db, PackKind::ip, Level::hour, old_ms) == 1);
  }
  Packer normal(db);
  CHECK_FALSE(normal.run(Packer::Clock::now() + 10s));
  CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms) == 1);
  sqlite3_close(db);
}

TEST_CASE("v7: each session's direction and user are stored, and packs are kept per direction and listener") {
  TempDir dir;
  const auto path = (dir.path / "sessions.db").string();
  const auto old_ms = noon_days_ago(3);
  {
    SessionStore store(path, 400 * 24h, 100);
    store.submit(record(1, old_ms));  // inbound, listener smtp, AUTH alice@example.com
    auto out = record(2, old_ms + 1000);
    out.listener = "out";
    out.outbound = true;
    out.user = "bob@local.example";  // the envelope sender
    out.domain = "local.example";
    out.upstream = "[2001:db8::25]:25";
    out.auth_result = "";
    store.submit(out);
    store.submit(record(3, now_ms()));  // the newest session: the old units are over and packed
    store.flush();
  }
  sqlite3* db = open_store(path, true);
  CHECK(schema_version(db) == kSchemaVersion);
  CHECK(query_int(db, "SELECT direction FROM sessions WHERE lcid = 2") == 1);
  CHECK(query_int(db, "SELECT direction FROM sessions WHERE lcid = 1") == 0);
  CHECK(query_int(db, "SELECT count(*) FROM sessions WHERE user_name = 'bob@local.example'") == 1);
  // Every kind, per scope: the outbound session's user is its sender, its ip the remote server.
  CHECK(pack_sum(db, PackKind::total, Level::day, old_ms) == 2);
  CHECK(pack_sum(db, PackKind::total, Level::day, old_ms, {}, 0, "in:smtp") == 1);
  CHECK(pack_sum(db, PackKind::total, Level::day, old_ms, {}, 0, "out:out") == 1);
  CHECK(pack_sum(db, PackKind::user, Level::day, old_ms, "bob@local.example", 0, "out:out") == 1);
  CHECK(pack_sum(db, PackKind::user, Level::day, old_ms, "alice@example.com", 0, "in:smtp") == 1);
  CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms, "2001:db8::25", 0, "out:out") == 1);
  CHECK(pack_sum(db, PackKind::ip, Level::day, old_ms, "192.0.2.7", 0, "out:out") == 0);  // not the local client
  CHECK(pack_sum(db, PackKind::ip, Level::hour, old_ms, "192.0.2.7", 0, "in:smtp") == 1);
  CHECK(pack_sum(db, PackKind::domain, Level::day, old_ms, "local.example") == 1);
  sqlite3_close(db);
}

TEST_CASE("host_of: the address of an upstream") {
  CHECK(host_of("198.51.100.25:25") == "198.51.100.25");
  CHECK(host_of("[2001:db8::25]:25") == "2001:db8::25");
  CHECK(host_of("original-destination") == "");
  CHECK(host_of("") == "");
}
