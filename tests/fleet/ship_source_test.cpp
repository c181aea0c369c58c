#include "store/schema.hpp"
#include "store/session_store.hpp"
#include "store/ship_source.hpp"

#include <doctest/doctest.h>
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
