// Sense through its seam: a real decoder, real detectors and counters, fake sinks.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "daemon/sense/listener_sense.hpp"
#include "daemon/sense/sensor.hpp"
#include "tests/sense/sense_rig.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace smtp;
using namespace smtp::daemon;
using namespace smtp::daemon::test;

namespace {

bool has_line(const std::vector<std::string>& lines, std::string_view needle) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

// A whole delivery: greeting, EHLO, MAIL, RCPT, DATA, QUIT.
void deliver(SessionObserver& s) {
  server(s, "220 mx.example.com ESMTP\r\n");
  client(s, "EHLO client.example.org\r\n");
  server(s, "250-mx.example.com\r\n250 PIPELINING\r\n");
  client(s, "MAIL FROM:<alice@Example.ORG>\r\n");
  server(s, "250 2.1.0 Ok\r\n");
  client(s, "RCPT TO:<bob@Example.COM>\r\n");
  server(s, "250 2.1.5 Ok\r\n");
  client(s, "DATA\r\n");
  server(s, "354 go ahead\r\n");
  client(s, "Subject: hi\r\n\r\nhello\r\n.\r\n");
  server(s, "250 2.0.0 queued\r\n");
  client(s, "QUIT\r\n");
  server(s, "221 bye\r\n");
}

}  // namespace

TEST_CASE("a delivery: counters, transcript lines, and the store row") {
  Rig rig;
  auto s = rig.open(1001);
  CHECK(rig.admission == Admission::relay);
  CHECK(s->watching());
  deliver(*s);
  CHECK(s->on_close(Termination::client_abort) == Termination::quit);  // it said QUIT

  auto& m = rig.m();
  CHECK(rig.counter(m.connections) == 1);
  CHECK(rig.counter(m.messages) == 1);
  CHECK(rig.counter(m.commands[static_cast<std::size_t>(proto::Verb::ehlo)]) == 1);
  CHECK(rig.counter(m.commands[static_cast<std::size_t>(proto::Verb::rcpt)]) == 1);
  CHECK(rig.counter(m.replies[0]) == 6);  // 2xx: the greeting, EHLO, MAIL, RCPT, end of data, QUIT
  CHECK(rig.counter(m.bad_commands) == 0);
  CHECK(rig.counter(m.terminations[static_cast<std::size_t>(Termination::client_abort)]) == 0);

  const auto& lines = rig.outputs.lines;
  REQUIRE(!lines.empty());
  CHECK(lines.front() == "[1001] ************ New connection from: 192.0.2.7:40000 to smtp (upstream 127.0.0.1:25)");
  CHECK(has_line(lines, "[1001] C --> EHLO client.example.org"));
  CHECK(has_line(lines, "[1001] S <-- 250-mx.example.com"));
  CHECK(has_line(lines, "[1001] C --> <message data: "));
  CHECK(lines.back().starts_with("[1001] ~~~~~~~~~~~~ Connection closed (quit). in="));

  REQUIRE(rig.outputs.rows.size() == 1);
  const auto& r = rig.outputs.rows.front();
  CHECK(r.lcid == 1001);
  CHECK(r.client_ip == "192.0.2.7");
  CHECK(r.helo == "client.example.org");
  CHECK(r.domain == "example.com");  // inbound MX traffic counts for the recipient's domain
  CHECK(r.messages == 1);
  CHECK(r.recipients == 1);
  CHECK(r.termination == "quit");
  CHECK(r.bytes_in > 0);
  CHECK(r.bytes_out > 0);
  // Bytes are counted once, and the metric and the row agree.
  CHECK(rig.counter(m.bytes_in) == static_cast<double>(r.bytes_in));
  CHECK(rig.counter(m.bytes_out) == static_cast<double>(r.bytes_out));
  CHECK(rig.outputs.alerts.empty());
}

TEST_CASE("AUTH guessing raises one alert and a flag, and credentials never reach a line") {
  config::Config cfg;
  cfg.detectors.auth_bruteforce.threshold = 3;
  Rig rig(cfg);
  auto s = rig.open(7);
  server(*s, "220 mx ESMTP\r\n");
  client(*s, "EHLO x\r\n");
  server(*s, "250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
  for (int i = 0; i < 4; ++i) {
    client(*s, "AUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1\r\n");  // alice / s3cr3t-Pa55
    server(*s, "535 5.7.8 Authentication failed\r\n");
  }
  s->on_close(Termination::client_abort);

  REQUIRE(rig.outputs.alerts.size() == 1);  // the 4th failure is a repeat within the TTL
  const auto& a = rig.outputs.alerts.front();
  CHECK(a.type == "auth_bruteforce");
  CHECK(a.ip == "192.0.2.7");
  CHECK(a.lcid == 7);
  CHECK(a.count == 3);
  CHECK(a.severity == "warning");
  CHECK(std::find(a.users.begin(), a.users.end(), "alice") != a.users.end());
  CHECK(rig.sensor->flags().size() == 1);
  CHECK(rig.counter(rig.m().auth[static_cast<std::size_t>(proto::AuthMechanism::plain)]
                                [static_cast<std::size_t>(proto::AuthResult::failure)]) == 4);
  CHECK(has_line(rig.outputs.lines, "[7] !!!!!!!!!!!! alert auth_bruteforce (flag)"));
  for (const auto& l : rig.outputs.lines) CHECK(l.find("s3cr3t") == std::string::npos);
  for (const auto& l : rig.outputs.lines) CHECK(l.find("AGFsaWNl") == std::string::npos);
  REQUIRE(rig.outputs.rows.size() == 1);
  CHECK(rig.outputs.rows.front().auth_user == "alice");
  CHECK(rig.outputs.rows.front().auth_result == "failure");
  CHECK(rig.outputs.rows.front().termination == "client_abort");
}

TEST_CASE("a deny list match is refused and counted, and its row says blocked") {
  config::Config cfg;
  cfg.deny.push_back(config::Cidr::parse("192.0.2.0/24").value());
  Rig rig(cfg);
  auto s = rig.open(11);
  CHECK(rig.admission == Admission::deny);
  s->on_blocked(cfg.flag.block_reply, Admission::deny);
  s->on_own_reply(cfg.flag.block_reply.size() + 2);
  CHECK(s->on_close(Termination::blocked) == Termination::blocked);
  CHECK(rig.counter(rig.m().blocked[static_cast<std::size_t>(BlockReason::deny)]) == 1);
  CHECK(rig.counter(rig.m().terminations[static_cast<std::size_t>(Termination::blocked)]) == 1);
  CHECK(has_line(rig.outputs.lines, "[11] ~~~~~~~~~~~~ Refused (deny): S <-- 554 5.7.1 Access denied"));
  REQUIRE(rig.outputs.rows.size() == 1);
  CHECK(rig.outputs.rows.front().blocked);
  CHECK(rig.outputs.rows.front().bytes_out == cfg.flag.block_reply.size() + 2);
}

TEST_CASE("max_connections_per_client: the client over its limit gets 421 until one of its sessions closes") {
  config::Config cfg;
  cfg.listeners.front().max_connections_per_client = 2;
  Rig rig(cfg);
  auto a = rig.open(31);
  CHECK(rig.admission == Admission::relay);
  auto b = rig.open(32);
  CHECK(rig.admission == Admission::relay);
  const std::string reply = "421 4.7.0 Error: too many connections from your address";
  {
    auto c = rig.open(33);
    CHECK(rig.admission == Admission::client_limit);
    c->on_blocked(reply, Admission::client_limit);
    c->on_own_reply(reply.size() + 2);
    CHECK(c->on_close(Termination::blocked) == Termination::blocked);
  }
  CHECK(rig.blocked(BlockReason::max_connections_per_client) == 1);
  CHECK(rig.blocked(BlockReason::deny) == 0);
  CHECK(has_line(rig.outputs.lines, "[33] ~~~~~~~~~~~~ Refused (max_connections_per_client): S <-- " + reply));
  REQUIRE(rig.outputs.rows.size() == 1);
  CHECK(rig.outputs.rows.front().blocked);
  CHECK(rig.outputs.rows.front().termination == "blocked");
  // Another client is counted apart; the refused session took no slot.
  auto other = rig.open(34, "198.51.100.1");
  CHECK(rig.admission == Admission::relay);
  CHECK(rig.listener->slots().clients() == 2);
  a->on_close(Termination::quit);
  auto d = rig.open(35);
  CHECK(rig.admission == Admission::relay);
  // A session destroyed without on_close (the daemon tearing down) gives its slot back too.
  b.reset();
  d.reset();
  other.reset();
  CHECK(rig.listener->slots().clients() == 0);
}

TEST_CASE("max_connections_per_client: an IPv6 prefix is one client; the allow list is never limited") {
  config::Config cfg;
  cfg.listeners.front().max_connections_per_client = 1;
  Rig rig(cfg);
  auto a = rig.open(41, "2001:db8:1:2::10");
  CHECK(rig.admission == Admission::relay);
  auto b = rig.open(42, "2001:db8:1:2::99");  // the same /64 (addresses.ipv6_prefix)
  CHECK(rig.admission == Admission::client_limit);
  auto c = rig.open(43, "2001:db8:1:3::10");
  CHECK(rig.admission == Admission::relay);
  rig.cfg.allow.push_back(config::Cidr::parse("192.0.2.0/24").value());
  std::vector<std::unique_ptr<SessionObserver>> allowed;
  for (std::uint64_t i = 0; i < 5; ++i) {
    allowed.push_back(rig.open(50 + i));
    CHECK(rig.admission == Admission::relay);
  }
  CHECK(rig.listener->slots().clients() == 2);
  // With no limit (the default) nothing is counted.
  rig.cfg.listeners.front().max_connections_per_client = 0;
  auto e = rig.open(60, "2001:db8:1:2::11");
  CHECK(rig.admission == Admission::relay);
  CHECK(rig.listener->slots().clients() == 2);
}

TEST_CASE("a blocking flag refuses the next connection from that address") {
  config::Config cfg;
  cfg.detectors.bad_commands.threshold = 2;
  cfg.detectors.bad_commands.action = config::Action::block;
  Rig rig(cfg);
  {
    auto s = rig.open(21);
    server(*s, "220 mx\r\n");
    client(*s, "XYZZY\r\n");
    server(*s, "500 5.5.2 what?\r\n");
    client(*s, "PLUGH\r\n");
    server(*s, "500 5.5.2 what?\r\n");
    s->on_close(Termination::client_abort);
  }
  CHECK(rig.counter(rig.m().bad_commands) == 2);
  REQUIRE(rig.outputs.alerts.size() == 1);
  CHECK(rig.outputs.alerts.front().action == "block");
  auto again = rig.open(22);
  CHECK(rig.admission == Admission::flagged);
  auto other = rig.open(23, "198.51.100.1");
  CHECK(rig.admission == Admission::relay);
}

TEST_CASE("a refusal at the PROXY stage is counted and recorded, but never watched") {
  Rig rig;
  auto s = rig.listener->open(31, rig.cfg);
  CHECK_FALSE(s->watching());
  s->on_proxy_refused({asio::ip::make_address("198.51.100.9"), 5000}, "not a trusted proxy");
  CHECK_FALSE(s->watching());  // not on /sessions: who is behind the proxy is unknown
  CHECK(s->on_close(Termination::blocked) == Termination::blocked);
  CHECK(rig.counter(rig.m().connections) == 1);
  CHECK(rig.counter(rig.m().blocked[static_cast<std::size_t>(BlockReason::proxy_protocol)]) == 1);
  CHECK(has_line(rig.outputs.lines, "[31] ~~~~~~~~~~~~ Refused (not a trusted proxy)"));
  REQUIRE(rig.outputs.rows.size() == 1);  // the report counts what the metric counts
  CHECK(rig.outputs.rows.front().client_ip == "198.51.100.9");
  CHECK(rig.outputs.rows.front().blocked);
  CHECK(rig.outputs.alerts.empty());
}

TEST_CASE("an unreachable upstream: the 421 is counted as an upstream error") {
  Rig rig;
  auto s = rig.open(41);
  s->on_upstream_unavailable("421 4.4.1 Upstream unavailable\r\n", "upstream connect failed: refused",
                             SessionObserver::Unavailable::upstream);
  s->on_own_reply(32);
  CHECK(s->on_close(Termination::upstream_error) == Termination::upstream_error);
  CHECK(rig.counter(rig.m().upstream_errors) == 1);
  CHECK(has_line(rig.outputs.lines, "Refused (upstream connect failed: refused): S <-- 421 4.4.1 Upstream unavailable"));
  REQUIRE(rig.outputs.rows.size() == 1);
  CHECK(rig.outputs.rows.front().termination == "upstream_error");
}

TEST_CASE("STARTTLS: the cut the relay asks for, and injected plaintext flagged") {
  config::Config cfg;
  cfg.listeners.front().tls.mode = config::TlsMode::terminate;
  Rig rig(cfg);
  auto s = rig.open(51);
  server(*s, "220 mx\r\n");
  client(*s, "EHLO x\r\n");
  server(*s, "250-mx\r\n250 STARTTLS\r\n");
  client(*s, "STARTTLS\r\nMAIL FROM:<a@b>\r\n");
  auto cut = s->starttls_cut();
  CHECK(cut.awaiting);
  CHECK(cut.client_tail == std::string_view("MAIL FROM:<a@b>\r\n").size());
  server(*s, "220 go ahead\r\n");
  cut = s->starttls_cut();
  CHECK(cut.started);
  CHECK(rig.counter(rig.m().anomalies[static_cast<std::size_t>(proto::Anomaly::starttls_injection)]) == 1);
  REQUIRE(!rig.outputs.alerts.empty());
  CHECK(rig.outputs.alerts.front().type == "starttls_injection");
}

TEST_CASE("transcripts and the store off: nothing is formatted or built") {
  Rig off;
  off.outputs.transcripts_on = false;
  off.outputs.store_on = false;
  auto s = off.open(61);
  deliver(*s);
  s->on_close(Termination::quit);
  CHECK(off.outputs.lines.empty());
  CHECK(off.outputs.rows.empty());
  CHECK(off.counter(off.m().messages) == 1);  // counting goes on
}

TEST_CASE("/sessions JSON of a live session keeps UTF-8 and escapes control bytes") {
  Rig rig;
  auto s = rig.open(71);
  server(*s, "220 mx\r\n");
  client(*s, "EHLO j\xc3\xbcrgen.example\r\n");
  std::string json;
  s->append_json(json);
  CHECK(json.find("\"lcid\":71") != std::string::npos);
  CHECK(json.find("\"helo\":\"j\xc3\xbcrgen.example\"") != std::string::npos);
  CHECK(json.find("\"client\":\"192.0.2.7:40000\"") != std::string::npos);
}

TEST_CASE("a HELO and an AUTH user kept to 255 bytes are cut between characters") {
  Rig rig;
  auto s = rig.open(72);
  server(*s, "220 mx\r\n250-mx\r\n");
  const std::string helo = std::string(254, 'h') + "\xc3\xbc.example";  // the 255th byte starts a "ü"
  client(*s, "EHLO " + helo + "\r\n");
  server(*s, "250-mx\r\n250 AUTH PLAIN\r\n");
  const std::string user = std::string(253, 'u') + "\xe2\x82\xac";  // a "€" from byte 254 to 256
  // AUTH PLAIN with the initial response: \0user\0password, in base64.
  const std::string plain = std::string(1, '\0') + user + std::string(1, '\0') + "pw";
  client(*s, "AUTH PLAIN " + base64(plain) + "\r\n");
  server(*s, "535 5.7.8 no\r\n");
  s->on_close(Termination::client_abort);
  REQUIRE(rig.outputs.rows.size() == 1);
  CHECK(rig.outputs.rows.front().helo == std::string(254, 'h'));
  CHECK(rig.outputs.rows.front().auth_user == std::string(253, 'u'));
}

namespace {

std::size_t alerts_of(const test::FakeOutputs& o, std::string_view type) {
  return static_cast<std::size_t>(std::count_if(o.alerts.begin(), o.alerts.end(), [&](const Alert& a) { return a.type == type; }));
}
const Alert* alert_of(const test::FakeOutputs& o, std::string_view type) {
  for (const auto& a : o.alerts)
    if (a.type == type) return &a;
  return nullptr;
}

void ehlo(SessionObserver& s, std::string_view caps = "250 PIPELINING") {
  server(s, "220 mx ESMTP\r\n");
  client(s, "EHLO x\r\n");
  server(s, "250-mx\r\n" + std::string(caps) + "\r\n");
}

}  // namespace

TEST_CASE("RCPT refusals feed recipient_enumeration and relay_probe; accepted ones do not") {
  config::Config cfg;
  cfg.detectors.recipient_enumeration.threshold = 3;
  cfg.detectors.relay_probe.threshold = 2;
  Rig rig(cfg);
  auto s = rig.open(21);
  ehlo(*s);
  client(*s, "MAIL FROM:<a@b.example>\r\n");
  server(*s, "250 2.1.0 Ok\r\n");
  for (int i = 0; i < 5; ++i) {
    client(*s, "RCPT TO:<ok@example.com>\r\n");
    server(*s, "250 2.1.5 Ok\r\n");
  }
  client(*s, "RCPT TO:<x@other.org>\r\n");
  server(*s, "554 5.7.1 <x@other.org>: Relay access denied\r\n");
  for (int i = 0; i < 3; ++i) {
    client(*s, "RCPT TO:<nobody@example.com>\r\n");
    server(*s, "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown\r\n");
  }
  CHECK(alerts_of(rig.outputs, "relay_probe") == 0);
  client(*s, "RCPT TO:<y@other.org>\r\n");
  server(*s, "554 5.7.1 <y@other.org>: Relay access denied\r\n");
  s->on_close(Termination::client_abort);
  REQUIRE(alerts_of(rig.outputs, "recipient_enumeration") == 1);
  REQUIRE(alerts_of(rig.outputs, "relay_probe") == 1);
  CHECK(alert_of(rig.outputs, "relay_probe")->count == 2);
  CHECK(alert_of(rig.outputs, "recipient_enumeration")->ip == "192.0.2.7");
  CHECK(alert_of(rig.outputs, "recipient_enumeration")->count == 3);
  CHECK(has_line(rig.outputs.lines, "[21] !!!!!!!!!!!! alert relay_probe (flag)"));
}

TEST_CASE("VRFY and EXPN feed vrfy_expn whatever the answer") {
  config::Config cfg;
  cfg.detectors.vrfy_expn.threshold = 3;
  Rig rig(cfg);
  auto s = rig.open(22);
  ehlo(*s);
  client(*s, "VRFY root\r\n");
  server(*s, "252 2.0.0 root\r\n");
  client(*s, "EXPN staff\r\n");
  server(*s, "502 5.5.1 EXPN not available\r\n");
  CHECK(rig.outputs.alerts.empty());
  client(*s, "VRFY admin\r\n");
  server(*s, "550 5.1.1 unknown\r\n");
  s->on_close(Termination::client_abort);
  REQUIRE(alerts_of(rig.outputs, "vrfy_expn") == 1);
  CHECK(alert_of(rig.outputs, "vrfy_expn")->count == 3);
}

TEST_CASE("non_smtp: an HTTP request fires once, and early_pipelining stays quiet for it") {
  Rig rig;
  auto s = rig.open(23);
  server(*s, "220 mx ESMTP\r\n");
  client(*s, "GET / HTTP/1.1\r\nHost: mx.example.com\r\nUser-Agent: scanner\r\n\r\n");
  server(*s, "502 5.5.2 Error: command not recognized\r\n");
  s->on_close(Termination::client_abort);
  CHECK(alerts_of(rig.outputs, "non_smtp") == 1);
  CHECK(alerts_of(rig.outputs, "early_pipelining") == 0);
  CHECK(alert_of(rig.outputs, "non_smtp")->detail.find("GET / HTTP/1.1") != std::string::npos);
}

TEST_CASE("early_pipelining: without PIPELINING, or before the EHLO reply; never when offered") {
  SUBCASE("not offered") {
    Rig rig;
    auto s = rig.open(24);
    ehlo(*s, "250 SIZE 1000");
    client(*s, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    server(*s, "250 ok\r\n250 ok\r\n");
    client(*s, "RSET\r\nNOOP\r\n");
    server(*s, "250 ok\r\n250 ok\r\n");
    s->on_close(Termination::client_abort);
    CHECK(alerts_of(rig.outputs, "early_pipelining") == 1);  // once per session
  }
  SUBCASE("before the EHLO reply") {
    Rig rig;
    auto s = rig.open(25);
    server(*s, "220 mx ESMTP\r\n");
    client(*s, "EHLO x\r\nMAIL FROM:<a@b.example>\r\n");
    server(*s, "250-mx\r\n250 PIPELINING\r\n250 ok\r\n");
    s->on_close(Termination::client_abort);
    CHECK(alerts_of(rig.outputs, "early_pipelining") == 1);
  }
  SUBCASE("offered, or waiting for each reply") {
    Rig rig;
    auto s = rig.open(26);
    deliver(*s);  // offers PIPELINING
    s->on_close(Termination::client_abort);
    auto s2 = rig.open(27, "192.0.2.8");
    ehlo(*s2, "250 SIZE 1000");
    client(*s2, "MAIL FROM:<a@b.example>\r\n");
    server(*s2, "250 ok\r\n");
    client(*s2, "QUIT\r\n");
    server(*s2, "221 bye\r\n");
    s2->on_close(Termination::client_abort);
    CHECK(rig.outputs.alerts.empty());
  }
}

TEST_CASE("auth_success_after_failures through the decoder: critical, names the user") {
  Rig rig;  // failures 3
  auto s = rig.open(28);
  ehlo(*s, "250 AUTH PLAIN LOGIN");
  for (int i = 0; i < 3; ++i) {
    client(*s, "AUTH PLAIN AGJvYgB3cm9uZw==\r\n");  // bob / wrong
    server(*s, "535 5.7.8 Authentication failed\r\n");
  }
  client(*s, "AUTH PLAIN AGFsaWNlAHMzY3IzdA==\r\n");  // alice / s3cr3t
  server(*s, "235 2.7.0 Authentication successful\r\n");
  s->on_close(Termination::client_abort);
  const Alert* a = alert_of(rig.outputs, "auth_success_after_failures");
  REQUIRE(a);
  CHECK(a->severity == "critical");
  CHECK(a->count == 3);
  CHECK(a->users == std::vector<std::string>{"alice"});
  CHECK(a->ip == "192.0.2.7");
  CHECK(a->detail.find("alice") != std::string::npos);
}

TEST_CASE("sensor.name names this sensor in detector and manual alerts; empty, the host name") {
  config::Config cfg;
  cfg.sensor.name = "mx2";
  cfg.detectors.user_many_ips.threshold = 1;
  Rig rig(cfg);
  CHECK(rig.sensor->name() == "mx2");
  auto s = rig.open(40, "192.0.2.40");
  ehlo(*s, "250 AUTH PLAIN");
  client(*s, "AUTH PLAIN AGFsaWNlAHMzY3IzdA==\r\n");
  server(*s, "235 2.7.0 ok\r\n");
  s->on_close(Termination::client_abort);
  const Alert* a = alert_of(rig.outputs, "user_many_ips");
  REQUIRE(a);
  CHECK(a->sensor == "mx2");
  CHECK(rig.sensor->add_manual("198.51.100.0/24", std::chrono::hours(1), false, "test").empty());
  const Alert* m = alert_of(rig.outputs, "manual");
  REQUIRE(m);
  CHECK(m->sensor == "mx2");
  Rig plain;
  CHECK(plain.sensor->name() == host_name());
}

TEST_CASE("user_many_ips: alert names the user and its clients, and flags no IP") {
  config::Config cfg;
  cfg.detectors.user_many_ips.threshold = 3;
  cfg.detectors.user_many_ips.action = config::Action::block;  // never blocks an IP all the same
  Rig rig(cfg);
  for (int i = 1; i <= 4; ++i) {
    auto s = rig.open(30 + i, "192.0.2." + std::to_string(i));
    ehlo(*s, "250 AUTH PLAIN");
    client(*s, "AUTH PLAIN AGFsaWNlAHMzY3IzdA==\r\n");
    server(*s, "235 2.7.0 ok\r\n");
    s->on_close(Termination::client_abort);
  }
  REQUIRE(alerts_of(rig.outputs, "user_many_ips") == 1);
  const Alert* a = alert_of(rig.outputs, "user_many_ips");
  CHECK(a->users == std::vector<std::string>{"alice"});
  CHECK(a->ips == std::vector<std::string>{"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  CHECK(a->ips_more == 0);
  CHECK(a->action == "flag");
  CHECK(rig.sensor->flags().size() == 0);
  CHECK(rig.admission == Admission::relay);
  // The flag is on the account (SPEC 15): /flagged lists it as a user object.
  REQUIRE(rig.sensor->user_flags().size() == 1);
  std::size_t total = 0;
  const auto json = rig.sensor->flagged_json(0, 10, total);
  CHECK(total == 1);
  CHECK(json.find("{\"user\":\"alice\",\"type\":\"user_many_ips\",") != std::string::npos);
  CHECK(json.find("\"action\":\"flag\"") != std::string::npos);
}

TEST_CASE("user flags: paged after the addresses, capped with the soonest expiry dropped, expired ones gone") {
  UserFlags users(2);
  users.flag("a@example.org", "user_many_ips", std::chrono::hours(2), "mx1");
  users.flag("b@example.org", "outbound_rejections", std::chrono::hours(1), "mx1");
  users.flag("a@example.org", "user_many_ips", std::chrono::hours(1), "mx1");  // a repeat: counted, expiry kept
  users.flag("c@example.org", "user_many_ips", std::chrono::hours(3), "mx1");  // full: b goes first
  const auto page = users.page(0, 10);
  REQUIRE(page.size() == 2);
  CHECK(page[0].user == "a@example.org");
  CHECK(page[0].count == 2);
  CHECK(page[1].user == "c@example.org");
  CHECK(users.page(1, 10).size() == 1);
  users.flag("d@example.org", "user_many_ips", std::chrono::milliseconds(1), "mx1");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(users.size() == 1);  // d expired; a was the soonest to expire when d came
  config::Config cfg;
  Rig rig(cfg);
  CHECK(rig.sensor->add_manual("198.51.100.7", std::chrono::hours(1), false, "").empty());
  rig.sensor->user_flags().flag("z@example.org", "user_many_ips", std::chrono::hours(1), "mx1");
  std::size_t total = 0;
  const auto first = rig.sensor->flagged_json(0, 1, total);
  CHECK(total == 2);
  CHECK(first.find("\"ip\":\"198.51.100.7\"") != std::string::npos);
  CHECK(first.find("\"user\"") == std::string::npos);
  const auto second = rig.sensor->flagged_json(1, 1, total);
  CHECK(second.find("\"user\":\"z@example.org\"") != std::string::npos);
  CHECK(second.find("\"ip\"") == std::string::npos);
}

TEST_CASE("distributed_bruteforce: one alert per account listing every client; each is flagged") {
  config::Config cfg;
  cfg.detectors.distributed_bruteforce.threshold = 25;
  cfg.detectors.auth_bruteforce.enabled = false;
  Rig rig(cfg);
  for (int i = 1; i <= 27; ++i) {
    auto s = rig.open(100 + i, "198.51.100." + std::to_string(i));
    ehlo(*s, "250 AUTH PLAIN");
    client(*s, "AUTH PLAIN AHJvb3QAeA==\r\n");  // root / x
    server(*s, "535 5.7.8 no\r\n");
    s->on_close(Termination::client_abort);
  }
  REQUIRE(alerts_of(rig.outputs, "distributed_bruteforce") == 1);
  const Alert* a = alert_of(rig.outputs, "distributed_bruteforce");
  CHECK(a->ips.size() == 20);
  CHECK(a->ips_more == 5);
  CHECK(a->ips.front() == "198.51.100.1");
  CHECK(a->ip == "198.51.100.25");
  CHECK(rig.sensor->flags().size() == 27);  // the 25 counted, then each newcomer
}

TEST_CASE("addresses: IPv6 clients of one /64 are one client, shown as the prefix") {
  config::Config cfg;
  cfg.detectors.auth_bruteforce.threshold = 3;
  Rig rig(cfg);
  for (int i = 1; i <= 3; ++i) {
    auto s = rig.open(200 + i, "2001:db8:1:2::" + std::to_string(i));
    ehlo(*s, "250 AUTH PLAIN");
    client(*s, "AUTH PLAIN AHJvb3QAeA==\r\n");
    server(*s, "535 5.7.8 no\r\n");
    s->on_close(Termination::client_abort);
  }
  REQUIRE(alerts_of(rig.outputs, "auth_bruteforce") == 1);
  CHECK(alert_of(rig.outputs, "auth_bruteforce")->ip == "2001:db8:1:2::/64");

  config::Config v4cfg;
  v4cfg.detectors.auth_bruteforce.threshold = 3;
  v4cfg.addresses.ipv4_prefix = 24;
  Rig rig4(v4cfg);
  for (int i = 1; i <= 3; ++i) {
    auto s = rig4.open(210 + i, "203.0.113." + std::to_string(i * 10));
    ehlo(*s, "250 AUTH PLAIN");
    client(*s, "AUTH PLAIN AHJvb3QAeA==\r\n");
    server(*s, "535 5.7.8 no\r\n");
    s->on_close(Termination::client_abort);
  }
  REQUIRE(alerts_of(rig4.outputs, "auth_bruteforce") == 1);
  CHECK(alert_of(rig4.outputs, "auth_bruteforce")->ip == "203.0.113.0/24");
}

TEST_CASE("pipelined EHLO, AUTH and QUIT in one read still count the failed login") {
  Rig rig;
  auto s = rig.open(81);
  server(*s, "220 mx ESMTP\r\n");
  client(*s, "EHLO x\r\nAUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1\r\nQUIT\r\n");
  server(*s, "250-mx\r\n250 AUTH PLAIN LOGIN\r\n535 5.7.8 Authentication failed\r\n221 bye\r\n");
  s->on_close(Termination::quit);
  CHECK(rig.counter(rig.m().auth[static_cast<std::size_t>(proto::AuthMechanism::plain)]
                                [static_cast<std::size_t>(proto::AuthResult::failure)]) == 1);
  REQUIRE(rig.outputs.rows.size() == 1);
  CHECK(rig.outputs.rows.front().auth_user == "alice");
}

TEST_CASE("shared counts: each event the detectors count goes out once, with the grouped key; none without sharing") {
  config::Config cfg;
  cfg.addresses.ipv4_prefix = 24;
  Rig rig(cfg);
  rig.outputs.share_on = true;
  auto s = rig.open(11, "198.51.100.77");
  server(*s, "220 mx ESMTP\r\n");
  client(*s, "EHLO x\r\n");
  server(*s, "250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
  client(*s, "AUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1\r\n");  // alice / s3cr3t-Pa55
  server(*s, "535 5.7.8 Authentication failed\r\n");
  client(*s, "VRFY root\r\n");
  server(*s, "252 maybe\r\n");
  s->on_close(Termination::client_abort);
  auto& ev = rig.outputs.shared;
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].kind == detect::EventKind::connection);
  CHECK(ev[1].kind == detect::EventKind::auth_failure);
  CHECK(ev[1].user == "alice");
  CHECK(ev[2].kind == detect::EventKind::vrfy_expn);
  for (const auto& e : ev) {
    CHECK(e.ip[12] == 198);
    CHECK(e.ip[14] == 100);
    CHECK(e.ip[15] == 0);  // the /24 the detectors count, not the address
    CHECK(e.ts_ms > 0);
    CHECK(e.user.find("s3cr3t") == std::string::npos);
  }

  Rig quiet;  // no fleet: nothing is built
  auto q = quiet.open(12);
  server(*q, "220 mx ESMTP\r\n");
  q->on_close(Termination::client_abort);
  CHECK(quiet.outputs.shared.empty());
}

TEST_CASE("another sensor's events count here; the local event that reaches the threshold raises") {
  config::Config cfg;
  cfg.detectors.auth_bruteforce.threshold = 3;
  Rig rig(cfg);
  detect::DetectorEvent e;
  e.kind = detect::EventKind::auth_failure;
  e.ip[10] = e.ip[11] = 0xff;
  e.ip[12] = 192, e.ip[14] = 2, e.ip[15] = 7;
  e.user = "bob";
  rig.sensor->remote_event(e);
  rig.sensor->remote_event(e);
  CHECK(rig.outputs.alerts.empty());
  auto s = rig.open(13);
  server(*s, "220 mx ESMTP\r\n");
  client(*s, "EHLO x\r\n");
  server(*s, "250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
  client(*s, "AUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1\r\n");
  server(*s, "535 5.7.8 Authentication failed\r\n");
  s->on_close(Termination::client_abort);
  REQUIRE(rig.outputs.alerts.size() == 1);
  CHECK(rig.outputs.alerts[0].count == 3);
  CHECK(rig.outputs.alerts[0].ip == "192.0.2.7");
}

TEST_CASE("per-user alerts in a fleet: one row per detector and account, one line in the fleet") {
  CHECK(user_alert_key("user_many_ips", "a:b@example.org") == "user:user_many_ips:a:b@example.org");
  const auto parsed = parse_user_alert_key("user:user_many_ips:a:b@example.org");
  REQUIRE(parsed);
  CHECK(parsed->first == "user_many_ips");
  CHECK(parsed->second == "a:b@example.org");
  CHECK_FALSE(parse_user_alert_key("192.0.2.7"));
  CHECK_FALSE(parse_user_alert_key("2001:db8::/64"));
  // PostgreSQL text: invalid UTF-8 and NUL become U+FFFD, the name is cut to 256 bytes.
  CHECK(user_alert_key("t", std::string("x\0\xff", 3)) == "user:t:x\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(user_alert_key("t", std::string(400, 'u')).size() == 7 + 256);

  config::Config cfg;
  Rig rig(cfg);
  auto& s = *rig.sensor;
  s.share_user_alerts(true);
  Alert a;
  a.type = "user_many_ips";
  a.users = {"carol@example.org"};
  a.ip = "192.0.2.7";
  CHECK(s.raise_for_user(a, {"192.0.2.7", "192.0.2.8"}, false, std::chrono::hours(1), false));
  auto rows = s.take_user_alerts();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].ip == "user:user_many_ips:carol@example.org");
  CHECK(rows[0].sensor == s.name());
  CHECK(s.take_user_alerts().empty());
  // Another sensor's row for another account: listed with its sensor, and that account's
  // next crossing here writes no line.
  FlagEntry row;
  row.ip = user_alert_key("outbound_rejections", "dave@example.org");
  row.type = "outbound_rejections";
  row.sensor = "mx9";
  row.since = FlagClock::now();
  row.expires = row.since + std::chrono::hours(1);
  row.count = 20;
  s.apply_remote_user_alert(row);
  const auto listed = s.user_flags().page(0, 10);
  REQUIRE(listed.size() == 2);
  CHECK(listed[1].user == "dave@example.org");
  CHECK(listed[1].sensor == "mx9");
  const auto before = rig.outputs.alerts.size();
  Alert b;
  b.type = "outbound_rejections";
  b.users = {"dave@example.org"};
  CHECK_FALSE(s.raise_for_user(b, {}, false, std::chrono::hours(1), false));
  CHECK(rig.outputs.alerts.size() == before);
  CHECK(s.take_user_alerts().empty());
  // distributed_bruteforce: a row of the fleet's flags no account, and a local crossing
  // flags only its own client.
  row.ip = user_alert_key("distributed_bruteforce", "erin@example.org");
  row.type = "distributed_bruteforce";
  s.apply_remote_user_alert(row);
  CHECK(s.user_flags().size() == 2);
  Alert c;
  c.type = "distributed_bruteforce";
  c.users = {"erin@example.org"};
  c.ip = "203.0.113.5";
  CHECK_FALSE(s.raise_for_user(c, {"203.0.113.5", "203.0.113.6"}, true, std::chrono::hours(1), false));
  CHECK(s.flags().alerted("203.0.113.5", "distributed_bruteforce"));
  CHECK_FALSE(s.flags().alerted("203.0.113.6", "distributed_bruteforce"));
}

TEST_CASE("non_smtp: the quoted line is cut at 80 bytes between characters") {
  Rig rig;
  auto s = rig.open(25);
  server(*s, "220 mx ESMTP\r\n");
  // 79 ASCII bytes, then a "ü" whose two bytes straddle the 80th: it is left out whole.
  const std::string target = "GET /" + std::string(74, 'a') + "\xc3\xbc HTTP/1.1";
  client(*s, target + "\r\n");
  server(*s, "502 5.5.2 Error: command not recognized\r\n");
  s->on_close(Termination::client_abort);
  REQUIRE(alerts_of(rig.outputs, "non_smtp") == 1);
  const auto& detail = alert_of(rig.outputs, "non_smtp")->detail;
  CHECK(detail == "client sent '" + target.substr(0, 79) + "', not SMTP");
}
