#include "daemon/sense/flag_table.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace smtp::daemon;
using namespace std::chrono_literals;

namespace {
smtp::asio::ip::address ip(const char* s) { return smtp::asio::ip::make_address(s); }
std::string v6(unsigned i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "2001:db8:%x:%x::1", (i >> 16) & 0xffff, i & 0xffff);
  return buf;
}
}  // namespace

TEST_CASE("flag keys: addresses and networks in one canonical form") {
  CHECK(FlagKey::parse("192.0.2.7")->text() == "192.0.2.7");
  CHECK(FlagKey::parse("::ffff:192.0.2.7")->text() == "192.0.2.7");
  CHECK(FlagKey::parse("198.51.100.77/24")->text() == "198.51.100.0/24");
  CHECK(FlagKey::parse("2001:db8:1:2::/64")->text() == "2001:db8:1:2::/64");
  CHECK(FlagKey::parse("2001:db8:1:2:3:4:5:6/64")->text() == "2001:db8:1:2::/64");
  CHECK(FlagKey::parse("10.0.0.1/32")->text() == "10.0.0.1");
  CHECK(FlagKey::parse("0.0.0.0/0")->text() == "0.0.0.0/0");
  CHECK_FALSE(FlagKey::parse(""));
  CHECK_FALSE(FlagKey::parse("example.org"));
  CHECK_FALSE(FlagKey::parse("10.0.0.0/33"));
  CHECK_FALSE(FlagKey::parse("2001:db8::/129"));
  CHECK_FALSE(FlagKey::parse("10.0.0.0/"));
  CHECK_FALSE(FlagKey::parse("10.0.0.0/8x"));
}

namespace {
FlagKey key(const char* s) { return *FlagKey::parse(s); }
std::vector<smtp::config::Cidr> cidrs(std::initializer_list<const char*> texts) {
  std::vector<smtp::config::Cidr> out;
  for (const auto* t : texts) out.push_back(*smtp::config::Cidr::parse(t));
  return out;
}
}  // namespace

TEST_CASE("a key lies within a network, or holds it, or they are apart") {
  CHECK(key("127.0.0.9").within(key("127.0.0.0/8")));
  CHECK(key("127.0.0.0/8").within(key("127.0.0.0/8")));
  CHECK_FALSE(key("127.0.0.0/7").within(key("127.0.0.0/8")));
  CHECK(key("127.0.0.0/8").within(key("126.0.0.0/7")));
  CHECK_FALSE(key("128.0.0.1").within(key("127.0.0.0/8")));
  CHECK(key("2001:db8:1:2::5").within(key("2001:db8:1:2::/64")));
  CHECK_FALSE(key("2001:db8:1:3::5").within(key("2001:db8:1:2::/64")));
  // IPv4 is mapped: all of it lies within ::/0 and within ::ffff:0:0/96, none within 2000::/3.
  CHECK(key("0.0.0.0/0").within(key("::/0")));
  CHECK(key("192.0.2.1").within(key("::ffff:0:0/96")));
  CHECK_FALSE(key("192.0.2.1").within(key("2000::/3")));
}

TEST_CASE("allow entries are read as config::Cidr reads them") {
  CHECK(FlagKey::of(cidrs({"127.0.0.0/8"})[0])->text() == "127.0.0.0/8");
  CHECK(FlagKey::of(cidrs({"10.1.2.3/8"})[0])->text() == "10.0.0.0/8");  // host bits cleared, as the loader does
  CHECK(FlagKey::of(cidrs({"::1"})[0])->text() == "::1");
  // An IPv6 literal's length counts in IPv6: ::ffff:192.0.2.0/120 is 192.0.2.0/24 ...
  CHECK(FlagKey::of(cidrs({"::ffff:192.0.2.0/120"})[0])->text() == "192.0.2.0/24");
  CHECK(key("192.0.2.77").within(*FlagKey::of(cidrs({"::ffff:192.0.2.0/120"})[0])));
  // ... which a flag key, reading the address as IPv4, refuses.
  CHECK_FALSE(FlagKey::parse("::ffff:192.0.2.0/120"));
}

TEST_CASE("allow_overlap: the entry holding a key, or the entries within it") {
  const auto allow = cidrs({"10.0.0.0/8", "127.0.0.0/8", "::1"});
  auto o = allow_overlap(key("127.0.0.9"), allow);
  CHECK(o.holds == "127.0.0.0/8");
  CHECK(o.within.empty());
  CHECK(allow_overlap(key("127.0.0.0/8"), allow).holds == "127.0.0.0/8");  // the same network
  o = allow_overlap(key("127.0.0.0/7"), allow);
  CHECK(o.holds.empty());
  CHECK(o.within == std::vector<std::string>{"127.0.0.0/8"});
  o = allow_overlap(key("0.0.0.0/0"), allow);
  CHECK(o.holds.empty());
  CHECK(o.within == std::vector<std::string>{"10.0.0.0/8", "127.0.0.0/8"});  // not ::1: IPv4 only
  o = allow_overlap(key("::/0"), allow);
  CHECK(o.within == std::vector<std::string>{"10.0.0.0/8", "127.0.0.0/8", "::1"});
  o = allow_overlap(key("192.0.2.7"), allow);
  CHECK(o.holds.empty());
  CHECK(o.within.empty());
  CHECK(allow_overlap(key("127.0.0.9"), {}).holds.empty());  // allow: []
}

TEST_CASE("add_manual: the flag it set, and the active flag on exactly the key that it replaced") {
  FlagTable t;
  FlagTable::ManualAdd m;
  CHECK(t.add_manual("2001:db8:1:2::5/64", 1h, true, "ticket 7", &m).empty());
  CHECK_FALSE(m.replaced);
  CHECK(m.added.ip == "2001:db8:1:2::/64");
  CHECK(m.added.block);
  CHECK(m.added.reason == "ticket 7");
  CHECK(t.add_manual("2001:db8:1:2::5", 1h, false, "", &m).empty());
  CHECK_FALSE(m.replaced);  // an address inside is not the key
  CHECK(t.add_manual("2001:db8:1:2::9/64", 2h, false, "", &m).empty());
  REQUIRE(m.replaced);
  CHECK(m.replaced->ip == "2001:db8:1:2::/64");
  CHECK(m.replaced->block);
  CHECK(m.replaced->reason == "ticket 7");
  CHECK_FALSE(m.added.block);
  CHECK(t.add_manual("192.0.2.1", 1ms, false, "").empty());
  std::this_thread::sleep_for(5ms);
  CHECK(t.add_manual("192.0.2.1", 1h, false, "", &m).empty());
  CHECK_FALSE(m.replaced);  // expired
}

TEST_CASE("a blocked network blocks the addresses inside it, and only those") {
  FlagTable t;
  CHECK(t.flag("2001:db8:1:2::/64", "distributed_bruteforce", 1h, true));
  CHECK(t.flag("198.51.100.0/24", "auth_bruteforce", 1h, true));
  CHECK(t.flag("192.0.2.9", "auth_bruteforce", 1h, false));  // flag only: not blocked
  CHECK(t.blocked(ip("2001:db8:1:2::1")));
  CHECK(t.blocked(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(t.blocked(ip("2001:db8:1:3::1")));
  CHECK(t.blocked(ip("198.51.100.200")));
  CHECK(t.blocked(ip("::ffff:198.51.100.1")));  // a v4 client on a dual-stack listener
  CHECK_FALSE(t.blocked(ip("198.51.101.1")));
  CHECK_FALSE(t.blocked(ip("192.0.2.9")));
  CHECK(t.size() == 3);
  CHECK(t.remove("198.51.100.0/24"));
  CHECK_FALSE(t.blocked(ip("198.51.100.200")));
  CHECK_FALSE(t.remove("198.51.100.0/24"));
}

TEST_CASE("repeats within the TTL only count; another detector alerts again") {
  FlagTable t;
  CHECK(t.flag("192.0.2.1", "auth_bruteforce", 1h, false));
  CHECK_FALSE(t.flag("192.0.2.1", "auth_bruteforce", 1h, false));
  CHECK(t.flag("192.0.2.1", "rcpt_scan", 1h, true));
  const auto s = t.snapshot();
  REQUIRE(s.size() == 1);
  CHECK(s[0].count == 3);
  CHECK(s[0].block);
  CHECK(s[0].type == "auth_bruteforce");
  CHECK_FALSE(t.flag("not an address", "x", 1h, true));
}

TEST_CASE("the cap: the automatic flag expiring soonest goes, manual ones stay") {
  FlagTable t(3);
  int evictions = 0;
  t.on_evict([&] { ++evictions; });
  CHECK(t.add_manual("192.0.2.1", 10min, true, "by hand").empty());
  CHECK(t.flag("192.0.2.2", "a", 1h, false));
  CHECK(t.flag("192.0.2.3", "a", 2h, false));
  CHECK(t.flag("192.0.2.4", "a", 3h, false));  // full: .2 (soonest) goes, not the manual .1
  CHECK(t.size() == 3);
  CHECK(t.evicted() == 1);
  CHECK(evictions == 1);
  auto keys = t.snapshot();
  std::set<std::string> ips;
  for (const auto& e : keys) ips.insert(e.ip);
  CHECK(ips == std::set<std::string>{"192.0.2.1", "192.0.2.3", "192.0.2.4"});
  // Full of manual flags: a manual add is refused, an automatic one dropped and counted.
  FlagTable m(2);
  CHECK(m.add_manual("10.0.0.1", 1h, true, "").empty());
  CHECK(m.add_manual("10.0.0.0/8", 1h, true, "").empty());
  CHECK_FALSE(m.add_manual("10.0.0.3", 1h, true, "").empty());
  CHECK_FALSE(m.flag("10.0.0.4", "a", 1h, true));
  CHECK(m.evicted() == 1);
  CHECK(m.size() == 2);
}

TEST_CASE("a manual add replaces the action; a manual flag never counts as an alert again") {
  FlagTable t;
  CHECK(t.flag("192.0.2.5", "auth_bruteforce", 1h, true));
  CHECK(t.add_manual("192.0.2.5", 5min, false, "known relay").empty());
  CHECK_FALSE(t.blocked(ip("192.0.2.5")));
  const auto s = t.snapshot();
  REQUIRE(s.size() == 1);
  CHECK(s[0].manual);
  CHECK(s[0].reason == "known relay");
  CHECK_FALSE(t.flag("192.0.2.5", "auth_bruteforce", 1h, true));  // suppressed, and the manual action stays
  CHECK_FALSE(t.blocked(ip("192.0.2.5")));
}

TEST_CASE("changes for the store, and a restore that drops expired flags") {
  FlagTable t;
  t.flag("192.0.2.1", "a", 1h, false);
  t.add_manual("2001:db8::/48", 1h, true, "r");
  auto c = t.take_changes();
  CHECK(c.size() == 2);
  CHECK(t.take_changes().empty());
  t.remove("192.0.2.1");
  c = t.take_changes();
  REQUIRE(c.size() == 1);
  CHECK(c[0].first == "192.0.2.1");
  CHECK_FALSE(c[0].second);

  FlagTable r;
  const auto now = FlagClock::now();
  r.restore({{"192.0.2.8", "manual", now, now + 1h, 1, true, true, "x", {}},
             {"192.0.2.9", "a", now - 2h, now - 1h, 1, true, false, "", {}}});
  CHECK(r.size() == 1);
  CHECK(r.blocked(ip("192.0.2.8")));
  CHECK(r.take_changes().empty());
}

TEST_CASE("pages follow one another in key order") {
  FlagTable t;
  for (int i = 0; i < 25; ++i) t.flag("10.0.0." + std::to_string(i), "a", 1h, false);
  std::size_t total = 0;
  const auto a = t.page(0, 10, &total);
  const auto b = t.page(10, 10, &total);
  const auto c = t.page(20, 10, &total);
  CHECK(total == 25);
  CHECK(a.size() == 10);
  CHECK(b.size() == 10);
  CHECK(c.size() == 5);
  CHECK(a[0].ip == "10.0.0.0");
  CHECK(a[1].ip == "10.0.0.1");
  CHECK(b[0].ip == "10.0.0.10");
  CHECK(t.page(30, 10, &total).empty());
}

TEST_CASE("lookup with 100,000 flags (timed, printed, never asserted)") {
  FlagTable t(200'000);
  // 90,000 addresses and 10,000 networks over 4 prefix lengths (v6 /64, /48, /32; v4 /24).
  for (unsigned i = 0; i < 90'000; ++i) t.flag(v6(i), "a", 1h, true);
  char buf[64];
  for (unsigned i = 0; i < 2500; ++i) {
    std::snprintf(buf, sizeof buf, "2001:db9:%x::/64", i);
    t.flag(buf, "a", 1h, true);
    std::snprintf(buf, sizeof buf, "2001:dba:%x::/48", i);
    t.flag(buf, "a", 1h, true);
    std::snprintf(buf, sizeof buf, "2001:%x::/32", 0x1000 + i);
    t.flag(buf, "a", 1h, true);
    std::snprintf(buf, sizeof buf, "10.%u.%u.0/24", i / 256, i % 256);
    t.flag(buf, "a", 1h, true);
  }
  CHECK(t.size() == 100'000);
  const int n = 1'000'000;
  auto time = [&](unsigned char third, const char* what) {
    int hits = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const auto a = smtp::asio::ip::make_address_v6(smtp::asio::ip::address_v6::bytes_type{
          0x20, 0x01, 0x0d, 0xb8, third, 0, static_cast<unsigned char>(i & 0xff), 1, 0, 0, 0, 0, 0, 0, 0, 1});
      hits += t.blocked(a) ? 1 : 0;
    }
    const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n;
    MESSAGE(what << ": " << ns << " ns per blocked() (" << hits << " of " << n << " blocked)");
    std::printf("flag_table lookup, %zu flags, 5 prefix lengths, %s: %.0f ns per blocked() call\n", t.size(), what, ns);
  };
  time(0, "exact hit");
  time(0xff, "miss (every prefix length tried)");
}
