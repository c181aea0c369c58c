// Shared flags' pure rules (SPEC 10): which changes go to the fleet, and that what the
// fleet sent is never sent back (no ping-pong).
#include "daemon/fleet_share.hpp"
#include "daemon/sense/flag_table.hpp"

#include <doctest/doctest.h>

using namespace smtp::daemon;
using namespace std::chrono_literals;

TEST_CASE("a sensor's own flags, manual adds and removals are shared, named after it") {
  FlagTable t;
  t.set_sensor("mx1");
  t.share_changes(true);
  CHECK(t.flag("192.0.2.7", "auth_bruteforce", 1h, true));
  CHECK(t.add_manual("198.51.100.0/24", 1h, false, "spam run").empty());
  auto changes = t.take_shared_changes();
  REQUIRE(changes.size() == 2);
  for (const auto& [key, e] : changes) {
    REQUIRE(e);
    CHECK(e->sensor == "mx1");
  }
  CHECK(t.take_shared_changes().empty());  // taken once
  CHECK(t.remove("192.0.2.7"));
  changes = t.take_shared_changes();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].first == "192.0.2.7");
  CHECK_FALSE(changes[0].second);  // an explicit removal
  const auto tomb = to_shared(changes[0].first, changes[0].second, "mx1");
  CHECK(tomb.removed);
  CHECK(tomb.sensor == "mx1");
}

TEST_CASE("a flag from the fleet is enforced and listed with its sensor, and never shared back") {
  FlagTable t;
  t.set_sensor("mx2");
  t.share_changes(true);
  FlagEntry e;
  e.ip = "192.0.2.9";
  e.type = "manual";
  e.sensor = "mx1";
  e.since = FlagClock::now();
  e.expires = e.since + 1h;
  e.block = true;
  e.manual = true;
  t.apply_remote(e);
  CHECK(t.blocked(smtp::asio::ip::make_address("192.0.2.9")));
  const auto listed = t.snapshot();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].sensor == "mx1");
  CHECK(t.take_shared_changes().empty());  // no echo
  CHECK(FlagTable::json(listed).find("\"sensor\":\"mx1\"") != std::string::npos);
  // The store still hears of it, so it survives a restart.
  CHECK(t.take_changes().size() == 1);
  t.remove_remote("192.0.2.9");
  CHECK_FALSE(t.blocked(smtp::asio::ip::make_address("192.0.2.9")));
  CHECK(t.take_shared_changes().empty());  // a fleet-wide removal is not sent back either
}

TEST_CASE("a remote flag suppresses a second alert here; the cap applies to remote flags") {
  FlagTable t(2);
  t.set_sensor("mx2");
  t.share_changes(true);
  FlagEntry e;
  e.ip = "192.0.2.1";
  e.type = "auth_bruteforce";
  e.sensor = "mx1";
  e.since = FlagClock::now();
  e.expires = e.since + 1h;
  t.apply_remote(e);
  CHECK_FALSE(t.flag("192.0.2.1", "auth_bruteforce", 1h, false));  // the fleet's alert stands
  for (const char* ip : {"192.0.2.2", "192.0.2.3", "192.0.2.4"}) {
    e.ip = ip;
    t.apply_remote(e);
  }
  CHECK(t.size() == 2);
  CHECK(t.evicted() == 2);
  // Evictions are local bookkeeping: nothing for the fleet to remove.
  for (const auto& [key, entry] : t.take_shared_changes()) CHECK(entry);
}

TEST_CASE("an expired remote flag removes the local one; round trip through the fleet's row") {
  FlagTable t;
  t.set_sensor("mx2");
  t.share_changes(true);
  CHECK(t.flag("192.0.2.5", "bad_commands", 1h, false));
  t.take_shared_changes();
  FlagEntry e = t.snapshot().at(0);
  const auto row = to_shared(e.ip, e, "mx2");
  const auto back = from_shared(row);
  CHECK(back.ip == e.ip);
  CHECK(back.sensor == "mx2");
  CHECK(back.type == "bad_commands");
  CHECK(std::chrono::abs(back.expires - e.expires) < 1ms);
  e.expires = FlagClock::now() - 1s;
  t.apply_remote(e);
  CHECK(t.size() == 0);
}

TEST_CASE("without a fleet that shares flags, no change is kept for it") {
  FlagTable t;
  CHECK(t.flag("192.0.2.7", "auth_bruteforce", 1h, true));
  CHECK(t.add_manual("192.0.2.8", 1h, false, "").empty());
  CHECK(t.take_shared_changes().empty());
  CHECK(t.take_changes().size() == 2);  // the store still hears of them
}

TEST_CASE("the events' horizon is the longest enabled window, at most 7 days") {
  smtp::config::Detectors d;
  CHECK(shared_events_horizon(d) >= std::chrono::seconds(600));
  d.auth_bruteforce.window = std::chrono::hours(24 * 30);
  CHECK(shared_events_horizon(d) == std::chrono::hours(24 * 7));
}
