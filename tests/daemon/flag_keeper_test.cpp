#include "daemon/flag_keeper.hpp"

#include "daemon/sense/flag_table.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace smtp::daemon;
using namespace std::chrono_literals;

namespace {

struct TempStore {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("flag_keeper_test." + std::to_string(::getpid()));
  TempStore() { std::filesystem::create_directories(dir); }
  ~TempStore() { std::filesystem::remove_all(dir); }
  std::string path() const { return (dir / "sessions.db").string(); }
};

const FlagEntry* find(const std::vector<FlagEntry>& entries, const std::string& ip) {
  for (const auto& e : entries)
    if (e.ip == ip) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("flags written by one keeper are read back by the next, removals too") {
  TempStore store;
  smtp::asio::io_context control;
  {
    FlagTable flags;
    FlagKeeper keeper(control, flags, store.path());
    flags.flag("192.0.2.7", "auth_bruteforce", 1h, true);
    CHECK(flags.add_manual("198.51.100.0/24", 2h, false, "a test network").empty());
    flags.flag("192.0.2.8", "auth_bruteforce", 1h, true);
    keeper.persist();
    CHECK(flags.remove("192.0.2.8"));
    keeper.write_last();
  }
  FlagTable flags;
  FlagKeeper keeper(control, flags, store.path());
  const auto back = flags.snapshot();
  REQUIRE(back.size() == 2);
  const auto* bot = find(back, "192.0.2.7");
  REQUIRE(bot != nullptr);
  CHECK(bot->type == "auth_bruteforce");
  CHECK(bot->block);
  CHECK_FALSE(bot->manual);
  const auto* net = find(back, "198.51.100.0/24");
  REQUIRE(net != nullptr);
  CHECK(net->manual);
  CHECK_FALSE(net->block);
  CHECK(net->reason == "a test network");
  CHECK(find(back, "192.0.2.8") == nullptr);
}

TEST_CASE("without a store the keeper keeps nothing and writes nothing") {
  smtp::asio::io_context control;
  FlagTable flags;
  FlagKeeper keeper(control, flags, "");
  flags.flag("192.0.2.7", "auth_bruteforce", 1h, true);
  keeper.persist();
  keeper.write_last();  // only the pool's answer to wait for
  CHECK(flags.size() == 1);
}

TEST_CASE("an unreadable store is logged and the flags live in memory") {
  TempStore store;
  std::filesystem::create_directories(store.path());  // a directory where the file should be
  smtp::asio::io_context control;
  FlagTable flags;
  FlagKeeper keeper(control, flags, store.path());
  flags.flag("192.0.2.7", "auth_bruteforce", 1h, true);
  keeper.persist();
  keeper.write_last();
  CHECK(flags.size() == 1);
}

TEST_CASE("the timer writes the changes each second") {
  TempStore store;
  smtp::asio::io_context control;
  {
    FlagTable flags;
    FlagKeeper keeper(control, flags, store.path());
    keeper.start();
    flags.flag("192.0.2.9", "auth_bruteforce", 1h, true);
    control.run_for(1500ms);  // one tick: the change is posted to the keeper's thread
    keeper.stop();
    keeper.join();
  }
  FlagTable flags;
  FlagKeeper keeper(control, flags, store.path());
  CHECK(find(flags.snapshot(), "192.0.2.9") != nullptr);
}
