#include "store/packer.hpp"
#include "store/schema.hpp"
#include "store/session_store.hpp"
#include "store/ship_source.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

using namespace smtp;
using namespace std::chrono_literals;

namespace {

struct TempStore {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ship-source-" + std::to_string(getpid()));
  TempStore() { std::filesystem::create_directories(dir); }
  ~TempStore() { std::filesystem::remove_all(dir); }
  std::string path() const { return (dir / "sessions.db").string(); }
};

store::SessionRecord row(std::uint64_t lcid) {
  store::SessionRecord r;
  r.lcid = lcid;
  r.start_ms = 1'700'000'000'000 + static_cast<std::int64_t>(lcid);
  r.end_ms = r.start_ms + 5;
  r.client_ip = "127.0.0.9";
  r.domain = "example.org";
  r.termination = "quit";
  return r;
}

}  // namespace

TEST_CASE("the shipped mark resumes after the last shipped row, in rowid order") {
  TempStore t;
  {
    store::SessionStore s(t.path(), 24h * 30, 1000);
    for (std::uint64_t i = 1; i <= 25; ++i) s.submit(row(i));
    s.flush();
  }
  store::ShipSource src(t.path());
  CHECK(src.mark() == 0);
  CHECK(src.backlog(0) == 25);
  auto first = src.read_after(0, 10);
  REQUIRE(first.size() == 10);
  CHECK(first[0].record.lcid == 1);
  CHECK(first[9].record.lcid == 10);
  CHECK(first[0].record.domain == "example.org");
  src.set_mark(first.back().rowid);
  // A new connection (a restarted sensor) sees the same mark.
  store::ShipSource again(t.path());
  CHECK(again.mark() == first.back().rowid);
  CHECK(again.backlog(again.mark()) == 15);
  const auto rest = again.read_after(again.mark(), 100);
  REQUIRE(rest.size() == 15);
  CHECK(rest.front().record.lcid == 11);
  CHECK(rest.back().record.lcid == 25);
}

TEST_CASE("a mark past every row (all pruned, rowids restarted) goes back to 0") {
  TempStore t;
  {
    store::SessionStore s(t.path(), 24h * 30, 1000);
    s.submit(row(1));
    s.flush();
  }
  store::ShipSource src(t.path());
  src.set_mark(500);
  CHECK(src.mark() == 0);
}

namespace {

// Sessions written straight into a store, one every 10 minutes over two UTC days.
void insert_sessions(sqlite3* db, std::int64_t from_s, int n) {
  store::exec(db, "BEGIN");
  for (int i = 0; i < n; ++i) {
    const std::int64_t ms = (from_s + 600LL * i) * 1000;
    const std::string sql =
        "INSERT INTO sessions (lcid, start_ms, end_ms, listener, client_ip, client_port, upstream, helo, tls, auth_user, "
        "auth_result, domain, messages, recipients, commands, bad_commands, permanent_failures, termination, blocked, "
        "bytes_in, bytes_out) VALUES (" + std::to_string(i + 1) + ", " + std::to_string(ms) + ", " + std::to_string(ms + 5) +
        ", 'smtp', '192.0.2.1', 1, 'u', 'h', 0, '', '', 'example.org', 1, 1, 3, 0, 0, 'quit', 0, 10, 20)";
    store::exec(db, sql.c_str());
  }
  store::exec(db, "COMMIT");
}

bool has_unit(const std::vector<store::PackChange>& changes, store::Level level, std::int64_t start) {
  for (const auto& c : changes)
    if (c.level == static_cast<int>(level) && c.start == start) return true;
  return false;
}

}  // namespace

TEST_CASE("pack changes: every unit packed, unpacked by a late session and repacked is noted until shipped") {
  TempStore t;
  constexpr std::int64_t kDay0 = 1'700'006'400;  // 2023-11-15 00:00 UTC
  sqlite3* db = store::open_store(t.path());
  insert_sessions(db, kDay0, 2 * 144);
  store::Packer packer(db);
  packer.run(store::Packer::Clock::now() + 30s);

  store::ShipSource src(t.path());
  auto changes = src.pack_changes(100'000);
  CHECK(src.pack_backlog() == changes.size());
  // The first day and its hours are closed and packed; quarter hours stay local.
  CHECK(has_unit(changes, store::Level::day, kDay0));
  CHECK(has_unit(changes, store::Level::hour, kDay0 + 3600));
  for (const auto& c : changes) CHECK(c.level != static_cast<int>(store::Level::quarter_hour));
  std::vector<store::ShipPack> packs;
  REQUIRE(src.read_unit(static_cast<int>(store::Level::day), kDay0, packs));
  bool domain_pack = false;
  for (const auto& p : packs) {
    CHECK(p.listener == "smtp");
    domain_pack = domain_pack || (p.kind == static_cast<int>(store::PackKind::domain) && !p.data.empty());
  }
  CHECK(domain_pack);
  src.clear_pack_changes(changes);
  CHECK(src.pack_backlog() == 0);

  // A late session for the first day's second hour unpacks the hour and the day (in the
  // writer's transaction): both are noted, and read as not packed.
  store::exec(db, "BEGIN");
  packer.touch((kDay0 + 3600 + 60) * 1000);
  store::exec(db, "COMMIT");
  changes = src.pack_changes(100);
  CHECK(has_unit(changes, store::Level::hour, kDay0 + 3600));
  CHECK(has_unit(changes, store::Level::day, kDay0));
  CHECK_FALSE(src.read_unit(static_cast<int>(store::Level::day), kDay0, packs));
  CHECK(packs.empty());
  // Repacked before the fleet committed the deletion: the stale changes are not cleared,
  // so the repacked units ship too.
  packer.run(store::Packer::Clock::now() + 30s);
  src.clear_pack_changes(changes);
  const auto again = src.pack_changes(100);
  CHECK(has_unit(again, store::Level::day, kDay0));
  CHECK(src.read_unit(static_cast<int>(store::Level::day), kDay0, packs));
  sqlite3_close(db);
}
