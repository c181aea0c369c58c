// The flags table (schema 5, 9): a flag read back after a restart keeps its sensor, and a
// row from before schema 9 reads with none (the daemon then names itself).
#include "store/flag_store.hpp"
#include "store/schema.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

using namespace smtp::store;

TEST_CASE("flags keep the sensor that raised them across a restart") {
  const auto dir = std::filesystem::temp_directory_path() / ("flag-store-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "store.db").string();
  {
    FlagStore store(path);
    StoredFlag f{"192.0.2.7", "auth_bruteforce", 1000, 4'000'000'000'000, 3, true, false, "", "mx2"};
    StoredFlag g{"198.51.100.0/24", "manual", 1000, 4'000'000'000'000, 1, false, true, "ticket 7", "mx1"};
    store.apply({{f.key, f}, {g.key, g}});
  }
  {
    // A row as schema 8 wrote it (no sensor column then): the default ''.
    sqlite3* db = open_store(path);
    REQUIRE(sqlite3_exec(db, "INSERT INTO flags (key, type, since_ms, expires_ms, count, block, manual, reason) "
                             "VALUES ('203.0.113.9', 'bad_commands', 1000, 4000000000000, 1, 0, 0, '')",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  FlagStore again(path);
  auto rows = again.load(2000);
  REQUIRE(rows.size() == 3);
  for (const auto& r : rows) {
    if (r.key == "192.0.2.7") CHECK(r.sensor == "mx2");
    else if (r.key == "198.51.100.0/24") CHECK((r.sensor == "mx1" && r.reason == "ticket 7"));
    else CHECK(r.sensor.empty());
  }
  std::filesystem::remove_all(dir);
}
