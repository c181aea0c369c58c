// Engine::replay, the seam of shared counts: another sensor's events count in the windows
// but raise nothing, and the next local event that finds the threshold reached raises.
#include "detect/engine.hpp"

#include <doctest/doctest.h>

using namespace smtp;
using namespace smtp::detect;

namespace {
IpBytes key(std::uint8_t last) {
  IpBytes b{};
  b[10] = b[11] = 0xff;
  b[12] = 127;
  b[15] = last;
  return b;
}
DetectorEvent remote(EventKind kind, std::uint8_t last, std::string user = "bob") {
  DetectorEvent e;
  e.kind = kind;
  e.ip = key(last);
  e.user = std::move(user);
  return e;
}
std::size_t count_type(const Findings& f, std::string_view type) {
  std::size_t n = 0;
  for (const auto& x : f) n += x.type == type;
  return n;
}
}  // namespace

TEST_CASE("remote AUTH failures count toward the threshold; only a local event raises") {
  config::Detectors cfg;  // auth_bruteforce: 5 failures in 10 minutes
  Engine e(cfg);
  for (int i = 0; i < 4; ++i) e.replay(remote(EventKind::auth_failure, 9), 1000);
  Findings out;
  e.auth(key(9), "bob", AuthOutcome::failure, {}, 1001, out);  // the 5th, local: raises
  REQUIRE(count_type(out, "auth_bruteforce") == 1);
  CHECK(out.back().count == 5);
  CHECK(out.back().described);
}

TEST_CASE("a remote event that crosses the threshold raises nothing and starts no quiet period") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 4; ++i) e.auth(key(3), "bob", AuthOutcome::failure, {}, 2000, out);
  CHECK(out.empty());
  e.replay(remote(EventKind::auth_failure, 3), 2001);  // the 5th, remote: silent
  e.replay(remote(EventKind::auth_failure, 3), 2001);
  CHECK(out.empty());
  e.auth(key(3), "bob", AuthOutcome::failure, {}, 2002, out);  // the next local one raises, in full
  REQUIRE(count_type(out, "auth_bruteforce") == 1);
  CHECK(out.back().described);
  CHECK(out.back().count == 7);
}

TEST_CASE("every kind of event is replayed into its detector's window") {
  config::Detectors cfg;
  cfg.bad_commands.threshold = 3;
  cfg.vrfy_expn.threshold = 2;
  Engine e(cfg);
  e.replay(remote(EventKind::bad_command, 5), 10);
  e.replay(remote(EventKind::bad_command, 5), 10);
  e.replay(remote(EventKind::vrfy_expn, 5), 10);
  Findings out;
  e.bad_command(key(5), 11, out);
  e.probe(DetectorId::vrfy_expn, key(5), 11, out);
  CHECK(count_type(out, "bad_commands") == 1);
  CHECK(count_type(out, "vrfy_expn") == 1);
  // Another key's events count nowhere else.
  Findings other;
  e.bad_command(key(6), 11, other);
  CHECK(other.empty());
}

TEST_CASE("stored kinds: known numbers map back, unknown ones are refused") {
  CHECK(event_kind(4) == EventKind::auth_failure);
  CHECK(event_kind(9) == EventKind::vrfy_expn);
  CHECK(event_kind(10) == EventKind::rejection);
  CHECK(event_kind(11) == EventKind::outbound_message);
  CHECK_FALSE(event_kind(0));
  CHECK_FALSE(event_kind(12));
}

TEST_CASE("with a crossings list, a replayed event that reaches a threshold is noted, not as an alert") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings crossings;
  for (int i = 0; i < 4; ++i) e.replay(remote(EventKind::auth_failure, 4), 3000, &crossings);
  CHECK(crossings.empty());
  e.replay(remote(EventKind::auth_failure, 4), 3000, &crossings);
  REQUIRE(count_type(crossings, "auth_bruteforce") == 1);
  CHECK(crossings.back().count == 5);
  CHECK_FALSE(crossings.back().described);
  // Still no quiet period: a local event raises in full if the fleet let nobody raise.
  Findings out;
  e.auth(key(4), "bob", AuthOutcome::failure, {}, 3001, out);
  REQUIRE(count_type(out, "auth_bruteforce") == 1);
  CHECK(out.back().described);
  // Once the local alert is out, replays inside its quiet period note nothing.
  crossings.clear();
  e.replay(remote(EventKind::auth_failure, 4), 3002, &crossings);
  CHECK(crossings.empty());
}

TEST_CASE("per-user crossings name the account and every client counted") {
  config::Detectors cfg;
  cfg.distributed_bruteforce.threshold = 3;
  cfg.user_many_ips.threshold = 2;
  cfg.outbound_rejections.threshold = 3;
  Engine e(cfg);
  Findings crossings;
  for (std::uint8_t ip = 1; ip <= 3; ++ip) e.replay(remote(EventKind::auth_failure, ip, "carol"), 100, &crossings);
  REQUIRE(count_type(crossings, "distributed_bruteforce") == 1);
  const auto& d = crossings.back();
  CHECK(d.users == std::vector<std::string>{"carol"});
  CHECK(d.ips.size() == 3);
  CHECK_FALSE(d.described);
  crossings.clear();
  e.replay(remote(EventKind::auth_success, 1, "dave"), 100, &crossings);
  e.replay(remote(EventKind::auth_success, 2, "dave"), 100, &crossings);
  REQUIRE(count_type(crossings, "user_many_ips") == 1);
  CHECK(crossings.back().users == std::vector<std::string>{"dave"});
  crossings.clear();
  // outbound_rejections is keyed by the sender: two remote refusals and a local one raise.
  e.replay(remote(EventKind::rejection, 2, "mallory@example.org"), 100, &crossings);
  e.replay(remote(EventKind::rejection, 2, "mallory@example.org"), 100, &crossings);
  CHECK(crossings.empty());
  Findings out;
  e.rejection(key(2), "mallory@example.org", 101, out);
  REQUIRE(count_type(out, "outbound_rejections") == 1);
  CHECK(out.back().described);
  CHECK(out.back().count == 3);
  // A remote refusal past the threshold in the quiet period notes nothing.
  e.replay(remote(EventKind::rejection, 2, "mallory@example.org"), 102, &crossings);
  CHECK(crossings.empty());
}

TEST_CASE("an outbound message counts as a message: a remote burst crosses compromised_account for the sender") {
  config::Detectors cfg;
  cfg.compromised_account.window = std::chrono::seconds(10);
  cfg.compromised_account.threshold = 5;  // min_messages
  cfg.compromised_account.ratio = 2;      // factor
  Engine e(cfg);
  Findings crossings;
  // Two windows of two messages each, one remote and one local: the baseline is 2.
  for (const std::uint32_t t : {100u, 101u, 110u, 111u}) e.replay(remote(EventKind::outbound_message, 2, "bulk@example.org"), t, &crossings);
  Findings out;
  e.message(key(2), "bulk@example.org", 120, out);
  CHECK(out.empty());
  for (int i = 0; i < 4; ++i) e.replay(remote(EventKind::outbound_message, 2, "bulk@example.org"), 121, &crossings);
  REQUIRE(count_type(crossings, "compromised_account") == 1);
  CHECK(crossings.back().users == std::vector<std::string>{"bulk@example.org"});
  CHECK(out.empty());
}
