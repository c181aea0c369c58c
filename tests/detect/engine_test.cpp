#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "detect/engine.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

using namespace smtp;
using namespace smtp::detect;
using namespace std::chrono_literals;

namespace {

IpBytes ip(std::uint8_t last, std::uint8_t third = 0) {
  IpBytes b{};
  b[10] = b[11] = 0xff;
  b[12] = 192;
  b[13] = 0;
  b[14] = third;
  b[15] = last;
  return b;
}

std::size_t count_type(const Findings& f, std::string_view type) {
  std::size_t n = 0;
  for (const auto& x : f) n += x.type == type;
  return n;
}

}  // namespace

TEST_CASE("auth_bruteforce fires at the threshold, not below, across mechanisms") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 4; ++i) e.auth(ip(1), "bob", AuthOutcome::failure, {}, 1000 + i, out);
  CHECK(count_type(out, "auth_bruteforce") == 0);
  e.auth(ip(1), "bob", AuthOutcome::failure, {}, 1004, out);
  REQUIRE(count_type(out, "auth_bruteforce") == 1);
  CHECK(out.back().count == 5);
  CHECK(out.back().threshold == 5);
  CHECK(out.back().window_s == 600);
  CHECK(out.back().users == std::vector<std::string>{"bob"});
}

TEST_CASE("a slow brute force below the rate is not flagged") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 20; ++i) e.auth(ip(2), "bob", AuthOutcome::failure, {}, 1000 + i * 200, out);  // one every 200 s
  CHECK(count_type(out, "auth_bruteforce") == 0);
}

TEST_CASE("successes never count as failures") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 50; ++i) e.auth(ip(3), "bob", AuthOutcome::success, {}, 1000 + i, out);
  CHECK(out.empty());
}

TEST_CASE("auth_unadvertised fires on the first attempt with the default threshold") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  e.auth(ip(4), "", AuthOutcome::unadvertised, "AUTH LOGIN answered 500: server does not offer AUTH", 1000, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == "auth_unadvertised");
  CHECK(out[0].detail == "AUTH LOGIN answered 500: server does not offer AUTH");
  CHECK(out[0].window_s == 3600);
}

TEST_CASE("password_spray counts distinct usernames from one IP") {
  config::Detectors cfg;
  cfg.auth_bruteforce.enabled = false;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 10; ++i) e.auth(ip(5), "same", AuthOutcome::failure, {}, 1000 + i, out);
  CHECK(count_type(out, "password_spray") == 0);
  for (int i = 0; i < 4; ++i) e.auth(ip(5), "user" + std::to_string(i), AuthOutcome::failure, {}, 1100 + i, out);
  REQUIRE(count_type(out, "password_spray") == 1);
  CHECK(out.back().count == 5);
  CHECK(out.back().users.size() == 5);
}

TEST_CASE("distributed_bruteforce counts distinct IPs failing one username") {
  config::Detectors cfg;
  cfg.auth_bruteforce.enabled = false;
  Engine e(cfg);
  Findings out;
  for (std::uint8_t i = 0; i < 9; ++i) e.auth(ip(i, 7), "ceo@example.com", AuthOutcome::failure, {}, 1000 + i, out);
  CHECK(count_type(out, "distributed_bruteforce") == 0);
  e.auth(ip(9, 7), "ceo@example.com", AuthOutcome::failure, {}, 1010, out);
  REQUIRE(count_type(out, "distributed_bruteforce") == 1);
  CHECK(out.back().users == std::vector<std::string>{"ceo@example.com"});
}

TEST_CASE("connection_ratio needs both the minimum and the ratio") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  // 19 connections, no mail: below min_connections.
  for (int i = 0; i < 19; ++i) e.connection(ip(10), 1000 + i, out);
  CHECK(out.empty());
  e.connection(ip(10), 1019, out);
  CHECK(count_type(out, "connection_ratio") == 1);
  // Another IP delivering one message per connection never trips it.
  out.clear();
  for (int i = 0; i < 100; ++i) {
    e.connection(ip(11), 1000 + i, out);
    e.message(ip(11), "", 1000 + i, out);
  }
  CHECK(out.empty());
}

TEST_CASE("bad_commands fires at its count") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 9; ++i) e.bad_command(ip(12), 1000, out);
  CHECK(out.empty());
  e.bad_command(ip(12), 1001, out);
  CHECK(count_type(out, "bad_commands") == 1);
}

TEST_CASE("anomaly detectors fire once per occurrence and respect enabled") {
  config::Detectors cfg;
  cfg.smuggling.enabled = false;
  cfg.pregreet.action = config::Action::block;
  Engine e(cfg);
  Findings out;
  e.anomaly(DetectorId::pregreet, "client spoke first", out);
  e.anomaly(DetectorId::smuggling, "LF.LF", out);
  if (const auto id = detector_for(proto::Anomaly::long_line)) e.anomaly(*id, "x", out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == "pregreet");
  CHECK(out[0].action == config::Action::block);
}

TEST_CASE("compromised_account needs a baseline, then a jump past factor x baseline") {
  config::Detectors cfg;
  cfg.compromised_account.threshold = 50;  // min_messages
  cfg.compromised_account.ratio = 5;       // factor
  cfg.compromised_account.window = 1h;
  cfg.connection_ratio.enabled = false;
  Engine e(cfg);
  Findings out;
  // A first busy hour is not a jump: there is no baseline yet.
  for (int i = 0; i < 200; ++i) e.message(ip(20), "alice@example.com", 1000 + i, out);
  CHECK(out.empty());
  Engine steady(cfg);
  // Five hours at 20 messages an hour build a baseline of 20.
  for (std::uint32_t h = 0; h < 5; ++h)
    for (int i = 0; i < 20; ++i) steady.message(ip(20), "bob@example.com", 3600 * h + 10 + i, out);
  CHECK(out.empty());
  // Then 99 messages in an hour: under 5 x 20.
  for (int i = 0; i < 99; ++i) steady.message(ip(20), "bob@example.com", 3600 * 5 + 10 + i, out);
  CHECK(out.empty());
  // The hundred-and-first crosses it.
  steady.message(ip(20), "bob@example.com", 3600 * 5 + 200, out);
  steady.message(ip(20), "bob@example.com", 3600 * 5 + 201, out);
  REQUIRE(count_type(out, "compromised_account") >= 1);
  CHECK(out[0].users == std::vector<std::string>{"bob@example.com"});
}

TEST_CASE("reconfigure changes thresholds and keeps the windows") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 3; ++i) e.auth(ip(30), "bob", AuthOutcome::failure, {}, 1000 + i, out);
  CHECK(out.empty());
  cfg.auth_bruteforce.threshold = 4;
  e.reconfigure(cfg);
  e.auth(ip(30), "bob", AuthOutcome::failure, {}, 1003, out);
  CHECK(count_type(out, "auth_bruteforce") == 1);
}

TEST_CASE("a million distinct IPs stay within max_tracked") {
  config::Detectors cfg;
  cfg.max_tracked = 1000;
  Engine e(cfg);
  Findings out;
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    IpBytes b{};
    std::memcpy(b.data(), &i, sizeof i);
    e.auth(b, "u", AuthOutcome::failure, {}, 1000, out);
    out.clear();
  }
  CHECK(e.tracked_ips() <= 1000);
  CHECK(e.tracked_ips() >= 900);
}
