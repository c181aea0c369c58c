// Outbound sessions (SPEC 14) through sense's seam: a real decoder and detectors, fake sinks.
#include "daemon/sense/listener_sense.hpp"
#include "daemon/sense/sensor.hpp"
#include "tests/sense/sense_rig.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

using namespace smtp;
using namespace smtp::daemon;
using namespace smtp::daemon::test;

namespace {

// One outbound listener: the local MTA (127.0.0.5) delivers to a remote server.
config::Config outbound(config::UserFrom from, config::Config c) {
  c.listeners.front().name = "out";
  c.listeners.front().direction = config::Direction::outbound;
  c.listeners.front().user_from = from;
  return c;
}
struct OutRig : Rig {
  explicit OutRig(config::UserFrom from = config::UserFrom::automatic, config::Config c = {})
      : Rig(outbound(from, std::move(c))) {}
  std::unique_ptr<SessionObserver> open(std::uint64_t lcid) { return Rig::open(lcid, "127.0.0.5", "198.51.100.25:25", 41000); }
};

// The MTA delivers one message from `sender` to a remote MX; rcpt_reply is its answer.
void deliver(SessionObserver& s, std::string_view sender, std::string_view rcpt_reply = "250 2.1.5 Ok\r\n") {
  server(s, "220 mx.remote.example ESMTP\r\n");
  client(s, "EHLO mail.local.example\r\n");
  server(s, "250-mx.remote.example\r\n250 PIPELINING\r\n");
  client(s, "MAIL FROM:<" + std::string(sender) + ">\r\n");
  server(s, "250 2.1.0 Ok\r\n");
  client(s, "RCPT TO:<bob@Remote.Example>\r\n");
  server(s, rcpt_reply);
  if (rcpt_reply.starts_with("250")) {
    client(s, "DATA\r\n");
    server(s, "354 go ahead\r\n");
    client(s, "Subject: hi\r\n\r\nhello\r\n.\r\n");
    server(s, "250 2.0.0 queued\r\n");
  }
  client(s, "QUIT\r\n");
  server(s, "221 bye\r\n");
}

}  // namespace

TEST_CASE("outbound: the domain is the sender's, the user the envelope sender, the row says outbound") {
  OutRig rig;
  auto s = rig.open(1);
  deliver(*s, "Alice@Local.Example");
  CHECK(s->on_close(Termination::server_close) == Termination::quit);
  REQUIRE(rig.outputs.rows.size() == 1);
  const auto& r = rig.outputs.rows.front();
  CHECK(r.outbound);
  CHECK(r.domain == "local.example");  // not the recipient's, as inbound would count it
  CHECK(r.user == "alice@local.example");
  CHECK(r.upstream == "198.51.100.25:25");
  CHECK_FALSE(r.blocked);
}

TEST_CASE("outbound user_from: auto prefers a successful AUTH, auth never takes the sender, sender always does") {
  auto run = [](config::UserFrom from, bool auth) {
    OutRig rig(from);
    auto s = rig.open(2);
    server(*s, "220 smarthost ESMTP\r\n");
    client(*s, "EHLO mail.local.example\r\n");
    server(*s, "250-smarthost\r\n250 AUTH PLAIN\r\n");
    if (auth) {
      client(*s, "AUTH PLAIN AHJlbGF5QGxvY2FsLmV4YW1wbGUAc2VjcmV0\r\n");  // relay@local.example
      server(*s, "235 2.7.0 Authentication successful\r\n");
    }
    client(*s, "MAIL FROM:<alice@local.example>\r\n");
    server(*s, "250 Ok\r\n");
    client(*s, "QUIT\r\n");
    server(*s, "221 bye\r\n");
    s->on_close(Termination::server_close);
    REQUIRE(rig.outputs.rows.size() == 1);
    return rig.outputs.rows.front().user;
  };
  CHECK(run(config::UserFrom::automatic, false) == "alice@local.example");
  CHECK(run(config::UserFrom::automatic, true) == "relay@local.example");
  CHECK(run(config::UserFrom::auth, false) == "");
  CHECK(run(config::UserFrom::auth, true) == "relay@local.example");
  CHECK(run(config::UserFrom::sender, true) == "alice@local.example");
}

TEST_CASE("outbound: a 554 greeting is a blocked connection, remote_refused") {
  OutRig rig;
  auto s = rig.open(3);
  server(*s, "554 5.7.1 Service unavailable; client host blocked\r\n");
  client(*s, "QUIT\r\n");
  server(*s, "221 bye\r\n");
  CHECK(s->on_close(Termination::server_close) == Termination::blocked);
  CHECK(rig.blocked(BlockReason::remote_refused) == 1);
  CHECK(rig.blocked(BlockReason::upstream_refused) == 0);
  REQUIRE(rig.outputs.rows.size() == 1);
  CHECK(rig.outputs.rows.front().blocked);
}

TEST_CASE("outbound: a 5xx to MAIL naming a block list is blocked; one that does not is a termination only") {
  for (const auto& [reply, blocked] :
       {std::pair<std::string_view, bool>{"550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org\r\n", true},
        {"554 5.7.1 Your IP is listed on our RBL\r\n", true},
        {"552 5.3.4 Message size exceeds fixed limit\r\n", false}}) {
    CAPTURE(reply);
    OutRig rig;
    auto s = rig.open(4);
    server(*s, "220 mx ESMTP\r\n");
    client(*s, "EHLO mail.local.example\r\n");
    server(*s, "250 mx\r\n");
    client(*s, "MAIL FROM:<alice@local.example>\r\n");
    server(*s, std::string(reply));
    client(*s, "QUIT\r\n");
    server(*s, "221 bye\r\n");
    const auto end = s->on_close(Termination::server_close);
    CHECK((end == Termination::blocked) == blocked);
    CHECK(rig.blocked(BlockReason::remote_refused) == (blocked ? 1 : 0));
    REQUIRE(rig.outputs.rows.size() == 1);
    CHECK(rig.outputs.rows.front().blocked == blocked);
    CHECK(rig.outputs.rows.front().permanent_failures == 1);  // a 5xx to MAIL is a termination either way
  }
}

TEST_CASE("inbound: a 5xx to MAIL naming a block list is not a blocked connection") {
  config::Config cfg;
  cfg.allow.clear();
  Metrics metrics;
  test::FakeOutputs outputs;
  Sensor sensor(cfg, metrics, outputs);
  ListenerSense listener(sensor, 0, metrics.listener("smtp"));
  auto s = listener.open(5, cfg);
  s->on_client({asio::ip::make_address("192.0.2.9"), 40000}, "127.0.0.1:25");
  server(*s, "220 mx ESMTP\r\n");
  client(*s, "EHLO x\r\n");
  server(*s, "250 mx\r\n");
  client(*s, "MAIL FROM:<a@b.example>\r\n");
  server(*s, "550 5.7.1 blocked using zen.spamhaus.org\r\n");
  CHECK(s->on_close(Termination::client_abort) != Termination::blocked);
  REQUIRE(outputs.rows.size() == 1);
  CHECK_FALSE(outputs.rows.front().outbound);
  CHECK_FALSE(outputs.rows.front().blocked);
}

TEST_CASE("outbound_rejections: fires on one sender's refusals, names the sender and the local client, flags no IP") {
  config::Config cfg;
  cfg.detectors.outbound_rejections.threshold = 3;
  OutRig rig(config::UserFrom::automatic, cfg);
  for (int i = 0; i < 2; ++i) {  // a sender under the threshold stays quiet
    auto s = rig.open(10 + static_cast<std::uint64_t>(i));
    deliver(*s, "carol@local.example", "550 5.7.1 Message rejected as spam\r\n");
    s->on_close(Termination::server_close);
  }
  for (int i = 0; i < 4; ++i) {
    auto s = rig.open(20 + static_cast<std::uint64_t>(i));
    deliver(*s, "mallory@local.example", "550 5.7.1 Message rejected as spam\r\n");
    s->on_close(Termination::server_close);
  }
  REQUIRE(rig.alerts("outbound_rejections") == 1);  // one alert per sender per window
  const auto& a = *std::find_if(rig.outputs.alerts.begin(), rig.outputs.alerts.end(),
                                [](const Alert& x) { return x.type == "outbound_rejections"; });
  CHECK(a.users == std::vector<std::string>{"mallory@local.example"});
  CHECK(a.ips == std::vector<std::string>{"127.0.0.5"});
  CHECK(a.ip == "127.0.0.5");
  CHECK(a.listener == "out");
  CHECK(a.count == 3);
  CHECK_FALSE(rig.sensor->flags().blocked(asio::ip::make_address("127.0.0.5")));
  CHECK(rig.sensor->flags().size() == 0);  // the local client is never flagged
  // A refused recipient outbound is not a local client probing: no recipient_enumeration.
  CHECK(rig.alerts("recipient_enumeration") == 0);
  // Each 5xx to RCPT is a termination in the row, as inbound.
  CHECK(rig.outputs.rows.back().permanent_failures == 1);
}

TEST_CASE("compromised_account on an outbound listener: counted per sender, names the local client, flags no IP") {
  config::Config cfg;
  cfg.detectors.compromised_account.window = std::chrono::seconds(2);
  cfg.detectors.compromised_account.threshold = 3;  // min_messages
  cfg.detectors.compromised_account.ratio = 2;      // factor
  OutRig rig(config::UserFrom::automatic, cfg);
  auto one = [&](std::uint64_t lcid, std::string_view sender) {
    auto s = rig.open(lcid);
    deliver(*s, sender);
    s->on_close(Termination::server_close);
  };
  one(30, "erin@local.example");  // the first window: a baseline of one message
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));  // the next window, with 1.8 s of it left
  for (std::uint64_t i = 0; i < 2; ++i) one(31 + i, "frank@local.example");  // another sender, under min_messages
  for (std::uint64_t i = 0; i < 3; ++i) one(40 + i, "erin@local.example");  // 3 > 2 x 1: a jump
  REQUIRE(rig.alerts("compromised_account") == 1);
  const auto& a = rig.outputs.alerts.back();
  CHECK(a.type == "compromised_account");
  CHECK(a.users == std::vector<std::string>{"erin@local.example"});
  CHECK(a.ips == std::vector<std::string>{"127.0.0.5"});
  CHECK(rig.sensor->flags().size() == 0);
}
