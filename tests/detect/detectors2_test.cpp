// SPEC 15's detectors in the engine: thresholds, windows sliding, quiet repeats, reload
// keeping windows, the prefix grouping, and the string rules that feed them.
#include "detect/engine.hpp"
#include "detect/probe_rules.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace smtp;
using namespace smtp::detect;
using namespace std::chrono_literals;

namespace {

IpBytes v4(std::uint8_t last, std::uint8_t third = 0) {
  IpBytes b{};
  b[10] = b[11] = 0xff;
  b[12] = 192;
  b[14] = third;
  b[15] = last;
  return b;
}

IpBytes v6(std::uint16_t group4, std::uint16_t last) {
  IpBytes b{};
  b[0] = 0x20, b[1] = 0x01, b[2] = 0x0d, b[3] = 0xb8;
  b[6] = static_cast<std::uint8_t>(group4 >> 8);
  b[7] = static_cast<std::uint8_t>(group4);
  b[14] = static_cast<std::uint8_t>(last >> 8);
  b[15] = static_cast<std::uint8_t>(last);
  return b;
}

std::size_t count_type(const Findings& f, std::string_view type) {
  std::size_t n = 0;
  for (const auto& x : f) n += x.type == type;
  return n;
}
const Finding* last_of(const Findings& f, std::string_view type) {
  for (auto it = f.rbegin(); it != f.rend(); ++it)
    if (it->type == type) return &*it;
  return nullptr;
}

}  // namespace

TEST_CASE("auth_success_after_failures: a success after enough failures, any user, names the user") {
  config::Detectors cfg;  // failures 3, window 1h
  Engine e(cfg);
  Findings out;
  e.auth(v4(1), "alice", AuthOutcome::failure, {}, 1000, out);
  e.auth(v4(1), "bob", AuthOutcome::failure, {}, 1001, out);
  e.auth(v4(1), "alice", AuthOutcome::success, {}, 1002, out);
  CHECK(count_type(out, "auth_success_after_failures") == 0);  // two failures are not enough
  e.auth(v4(1), "carol", AuthOutcome::failure, {}, 1003, out);
  e.auth(v4(2), "alice", AuthOutcome::success, {}, 1004, out);  // another client's success
  CHECK(count_type(out, "auth_success_after_failures") == 0);
  e.auth(v4(1), "alice", AuthOutcome::success, {}, 1005, out);
  const Finding* f = last_of(out, "auth_success_after_failures");
  REQUIRE(f);
  CHECK(f->severity == "critical");
  CHECK(f->count == 3);
  CHECK(f->threshold == 3);
  CHECK(f->window_s == 3600);
  CHECK(f->described);
  CHECK(f->users == std::vector<std::string>{"alice"});
  CHECK(f->detail == "login as 'alice' succeeded after 3 failed logins");
  out.clear();
  e.auth(v4(1), "alice", AuthOutcome::success, {}, 1006, out);  // a repeat within the window: bare
  REQUIRE(count_type(out, "auth_success_after_failures") == 1);
  CHECK_FALSE(out.back().described);
  CHECK(out.back().detail.empty());
}

TEST_CASE("auth_success_after_failures: failures that slid out of the window do not count") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 5; ++i) e.auth(v4(3), "bob", AuthOutcome::failure, {}, 1000 + i, out);
  e.auth(v4(3), "bob", AuthOutcome::success, {}, 1000 + 3600 + 600, out);  // over an hour later
  CHECK(count_type(out, "auth_success_after_failures") == 0);
  cfg.auth_success_after_failures.enabled = false;
  e.reconfigure(cfg);
  for (int i = 0; i < 5; ++i) e.auth(v4(4), "bob", AuthOutcome::failure, {}, 9000 + i, out);
  e.auth(v4(4), "bob", AuthOutcome::success, {}, 9010, out);
  CHECK(count_type(out, "auth_success_after_failures") == 0);
}

TEST_CASE("user_many_ips: distinct clients with a successful login, listed") {
  config::Detectors cfg;  // distinct_ips 5, window 1h
  Engine e(cfg);
  Findings out;
  for (std::uint8_t i = 1; i <= 4; ++i) e.auth(v4(i), "dave", AuthOutcome::success, {}, 1000 + i, out);
  for (int i = 0; i < 10; ++i) e.auth(v4(1), "dave", AuthOutcome::success, {}, 1010 + i, out);  // same client again
  for (std::uint8_t i = 10; i <= 20; ++i) e.auth(v4(i), "dave", AuthOutcome::failure, {}, 1030, out);  // failures
  CHECK(count_type(out, "user_many_ips") == 0);
  e.auth(v4(5), "dave", AuthOutcome::success, {}, 1040, out);
  const Finding* f = last_of(out, "user_many_ips");
  REQUIRE(f);
  CHECK(f->described);
  CHECK(f->count == 5);
  CHECK(f->users == std::vector<std::string>{"dave"});
  CHECK(f->ips.size() == 5);
  CHECK(f->ips.front() == v4(1));
  CHECK(f->ips.back() == v4(5));
  out.clear();
  e.auth(v4(6), "dave", AuthOutcome::success, {}, 1041, out);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out.back().described);  // quiet
  out.clear();
  // Other users are separate; the window slides.
  for (std::uint8_t i = 1; i <= 4; ++i) e.auth(v4(i), "erin", AuthOutcome::success, {}, 1000 + i * 1500, out);
  e.auth(v4(9), "erin", AuthOutcome::success, {}, 8000, out);  // the first two slid out of the hour
  CHECK(count_type(out, "user_many_ips") == 0);
}

TEST_CASE("distributed_bruteforce lists every client it counted") {
  config::Detectors cfg;
  cfg.distributed_bruteforce.threshold = 25;
  Engine e(cfg);
  Findings out;
  for (std::uint8_t i = 1; i <= 25; ++i) e.auth(v4(i, 7), "root", AuthOutcome::failure, {}, 1000 + i, out);
  const Finding* f = last_of(out, "distributed_bruteforce");
  REQUIRE(f);
  CHECK(f->ips.size() == 25);
  CHECK(f->ips[0] == v4(1, 7));
  CHECK(f->ips[24] == v4(25, 7));
}

TEST_CASE("the probe counters: thresholds, windows sliding, quiet repeats") {
  config::Detectors cfg;  // rejected 20 / 10m, attempts 3 / 1h, count 5 / 10m
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 19; ++i) e.probe(DetectorId::recipient_enumeration, v4(1), 1000 + i, out);
  CHECK(out.empty());
  e.probe(DetectorId::recipient_enumeration, v4(1), 1019, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].detail == "20 recipients refused as unknown");
  CHECK(out[0].window_s == 600);
  e.probe(DetectorId::recipient_enumeration, v4(1), 1020, out);
  REQUIRE(out.size() == 2);
  CHECK_FALSE(out[1].described);
  out.clear();

  for (int i = 0; i < 2; ++i) e.probe(DetectorId::relay_probe, v4(2), 1000 + i * 1000, out);
  e.probe(DetectorId::relay_probe, v4(2), 1000 + 2 * 1000, out);
  REQUIRE(count_type(out, "relay_probe") == 1);
  CHECK(out.back().detail == "3 recipients refused as relaying");
  out.clear();
  // Spread over more than the hour: never three in one window.
  for (int i = 0; i < 10; ++i) e.probe(DetectorId::relay_probe, v4(3), 1000 + i * 2400, out);
  CHECK(out.empty());

  for (int i = 0; i < 4; ++i) e.probe(DetectorId::vrfy_expn, v4(4), 1000 + i, out);
  CHECK(out.empty());
  e.probe(DetectorId::vrfy_expn, v4(5), 1005, out);  // another client
  CHECK(out.empty());
  e.probe(DetectorId::vrfy_expn, v4(4), 1006, out);
  REQUIRE(count_type(out, "vrfy_expn") == 1);
  CHECK(out.back().detail == "5 VRFY or EXPN commands");
  out.clear();
  e.probe(DetectorId::bad_commands, v4(4), 1006, out);  // not a probe counter
  CHECK(out.empty());
}

TEST_CASE("reconfigure keeps the probe windows and changes thresholds") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 3; ++i) e.probe(DetectorId::vrfy_expn, v4(6), 1000 + i, out);
  CHECK(out.empty());
  cfg.vrfy_expn.threshold = 4;
  e.reconfigure(cfg);
  e.probe(DetectorId::vrfy_expn, v4(6), 1003, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].count == 4);
  CHECK(out[0].threshold == 4);
  cfg.vrfy_expn.enabled = false;
  e.reconfigure(cfg);
  out.clear();
  e.probe(DetectorId::vrfy_expn, v4(6), 1004, out);
  CHECK(out.empty());
}

TEST_CASE("non_smtp and early_pipelining are one-occurrence findings") {
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  e.anomaly(DetectorId::non_smtp, "GET /", out);
  e.anomaly(DetectorId::early_pipelining, "MAIL", out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].type == "non_smtp");
  CHECK(out[0].described);
  CHECK(out[1].severity == "warning");
  cfg.non_smtp.enabled = false;
  e.reconfigure(cfg);
  out.clear();
  e.anomaly(DetectorId::non_smtp, "GET /", out);
  CHECK(out.empty());
}

TEST_CASE("prefix grouping: keys masked to the prefix count as one client") {
  CHECK(mask_key(v4(77, 5), 32, 64) == v4(77, 5));
  CHECK(mask_key(v4(77, 5), 24, 64) == v4(0, 5));
  CHECK(mask_key(v4(77, 5), 16, 64) == v4(0, 0));
  CHECK(mask_key(v6(2, 9), 24, 64) == v6(2, 0));
  CHECK(mask_key(v6(2, 9), 24, 128) == v6(2, 9));
  IpBytes odd = v6(0xffff, 0xffff);
  const auto m = mask_key(odd, 32, 60);
  CHECK(m[7] == 0xf0);
  CHECK(m[8] == 0);

  // Every address of one /64 is one client: distinct counts included.
  config::Detectors cfg;
  Engine e(cfg);
  Findings out;
  for (std::uint16_t i = 1; i <= 5; ++i) e.auth(mask_key(v6(1, i), 32, 64), "frank", AuthOutcome::failure, {}, 1000 + i, out);
  const Finding* f = last_of(out, "auth_bruteforce");
  REQUIRE(f);  // five failures from five addresses of 2001:db8:0:1::/64
  CHECK(f->count == 5);
  out.clear();
  for (std::uint16_t i = 1; i <= 12; ++i) e.auth(mask_key(v6(2, i), 32, 64), "gina", AuthOutcome::failure, {}, 2000, out);
  CHECK(count_type(out, "distributed_bruteforce") == 0);  // one client, however many addresses
  for (std::uint16_t i = 1; i <= 5; ++i) e.auth(mask_key(v6(3, i), 32, 64), "hank", AuthOutcome::success, {}, 3000 + i, out);
  CHECK(count_type(out, "user_many_ips") == 0);
}

TEST_CASE("a 7-day window counts a slow guesser") {
  config::Detectors cfg;
  cfg.auth_bruteforce.threshold = 20;
  cfg.auth_bruteforce.window = 24h;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 20; ++i) e.auth(v4(8), "ivan", AuthOutcome::failure, {}, 100000 + i * 900, out);  // every 15 min
  CHECK(count_type(out, "auth_bruteforce") == 1);
  cfg.auth_bruteforce.window = 7 * 24h;
  cfg.auth_bruteforce.threshold = 100;
  e.reconfigure(cfg);
  out.clear();
  for (int i = 0; i < 100; ++i) e.auth(v4(9), "ivan", AuthOutcome::failure, {}, 100000 + i * 3600, out);  // hourly, 4 days
  CHECK(count_type(out, "auth_bruteforce") == 1);
}

TEST_CASE("non_smtp: HTTP, POP3 and IMAP lines, and SMTP never") {
  CHECK(looks_non_smtp("GET / HTTP/1.1"));
  CHECK(looks_non_smtp("POST /login HTTP/1.0"));
  CHECK(looks_non_smtp("CONNECT mx.example.com:443 HTTP/1.1"));
  CHECK(looks_non_smtp("OPTIONS * HTTP/1.1"));
  CHECK(looks_non_smtp("Host: mx.example.com"));
  CHECK(looks_non_smtp("user-agent: curl/8"));
  CHECK(looks_non_smtp("USER alice"));
  CHECK(looks_non_smtp("PASS secret"));
  CHECK(looks_non_smtp("a1 LOGIN alice secret"));
  CHECK(looks_non_smtp("A001 login alice secret"));
  CHECK_FALSE(looks_non_smtp("GET"));
  CHECK_FALSE(looks_non_smtp("get / http/1.1"));
  CHECK_FALSE(looks_non_smtp("EHLO GET"));
  CHECK_FALSE(looks_non_smtp("MAIL FROM:<a@b>"));
  CHECK_FALSE(looks_non_smtp("AUTH LOGIN"));
  CHECK_FALSE(looks_non_smtp("XAUTH LOGIN"));
  CHECK_FALSE(looks_non_smtp("XYZZY"));
  CHECK_FALSE(looks_non_smtp(""));
}

TEST_CASE("RCPT refusals: unknown users and relay denials") {
  CHECK(classify_rcpt_refusal(550, "5.1.1", "550 5.1.1 <x@example.com>: Recipient address rejected") ==
        RcptRefusal::unknown_user);
  CHECK(classify_rcpt_refusal(550, "", "550 User unknown in local recipient table") == RcptRefusal::unknown_user);
  CHECK(classify_rcpt_refusal(554, "5.7.1", "554 5.7.1 <x@other.org>: Relay access denied") == RcptRefusal::relay);
  CHECK(classify_rcpt_refusal(550, "", "550 relay not permitted") == RcptRefusal::relay);
  CHECK(classify_rcpt_refusal(551, "5.1.6", "551 5.1.6 moved") == RcptRefusal::unknown_user);
  CHECK(classify_rcpt_refusal(450, "4.1.1", "450 4.1.1 try later, user unknown") == RcptRefusal::none);
  CHECK(classify_rcpt_refusal(250, "2.1.5", "250 2.1.5 Ok") == RcptRefusal::none);
  CHECK(classify_rcpt_refusal(552, "5.2.2", "552 5.2.2 mailbox full") == RcptRefusal::none);
  CHECK(classify_rcpt_refusal(554, "5.7.1", "554 5.7.1 Rejected by policy") == RcptRefusal::none);
}

TEST_CASE("outbound_rejections: counted per sender in the window, the local client listed, quiet repeats") {
  config::Detectors cfg;  // rejections 20, window 1h
  CHECK(cfg.outbound_rejections.threshold == 20);
  CHECK(cfg.outbound_rejections.window == 1h);
  cfg.outbound_rejections.threshold = 5;
  Engine e(cfg);
  Findings out;
  for (int i = 0; i < 4; ++i) e.rejection(v4(25), "bulk@local.example", 1000 + i, out);
  for (int i = 0; i < 10; ++i) e.rejection(v4(25), "other" + std::to_string(i) + "@local.example", 1000, out);
  e.rejection(v4(25), "", 1000, out);  // no sender: nothing to key by
  CHECK(count_type(out, "outbound_rejections") == 0);
  e.rejection(v4(25), "bulk@local.example", 1010, out);
  const Finding* f = last_of(out, "outbound_rejections");
  REQUIRE(f);
  CHECK(f->described);
  CHECK(f->count == 5);
  CHECK(f->users == std::vector<std::string>{"bulk@local.example"});
  CHECK(f->ips == std::vector<IpBytes>{v4(25)});
  out.clear();
  e.rejection(v4(25), "bulk@local.example", 1011, out);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out.back().described);  // the alert is out: a quiet repeat
  out.clear();
  // The window slides: four refusals spread over more than an hour never reach five.
  for (int i = 0; i < 8; ++i) e.rejection(v4(25), "slow@local.example", 10000 + i * 1200, out);
  CHECK(count_type(out, "outbound_rejections") == 0);
  // Disabled, it counts nothing.
  cfg.outbound_rejections.enabled = false;
  e.reconfigure(cfg);
  for (int i = 0; i < 10; ++i) e.rejection(v4(25), "x@local.example", 20000, out);
  CHECK(out.empty());
}

TEST_CASE("block-list words: a remote refusal of the sending host") {
  CHECK(names_block_list("Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"));
  CHECK(names_block_list("Your IP is BLACKLISTED"));
  CHECK(names_block_list("listed at b.barracudacentral.org"));
  CHECK(names_block_list("rejected by DNSBL"));
  CHECK_FALSE(names_block_list("Message size exceeds fixed limit"));
  CHECK_FALSE(names_block_list("Sender address rejected: Domain not found"));
}
