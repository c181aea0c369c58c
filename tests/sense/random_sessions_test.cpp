// Random sessions through the sense seam, cut anywhere, into one sensor (so the detectors
// fire across sessions): chaotic ones (SMTP-flavoured and raw bytes in both directions, in
// any order) and ones that authenticate the ways clients do; on an inbound listener, an
// outbound one (SMTP Out) and with message data in the transcript. Whatever comes, the store
// row counts every byte and each transcript line is one escaped line of its own session;
// and a password never reaches a line, an alert or a row.
#include "tests/sense/sense_rig.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace smtp;
using namespace smtp::daemon;
using namespace smtp::daemon::test;

namespace {

const char* const kClient[] = {
    "EHLO client.example.org\r\n", "HELO x\r\n", "MAIL FROM:<a@b.example>\r\n", "MAIL FROM:<> SIZE=4\r\n",
    "RCPT TO:<d@e.example>\r\n", "RCPT TO:<postmaster>\r\n", "DATA\r\n", "BDAT 5\r\n", "BDAT 3 LAST\r\n",
    "AUTH LOGIN\r\n", "AUTH PLAIN\r\n", "AUTH CRAM-MD5\r\n", "*\r\n", "STARTTLS\r\n", "RSET\r\n", "NOOP\r\n",
    "VRFY root\r\n", "EXPN staff\r\n", "QUIT\r\n", ".\r\n", "..x\r\n", "Subject: hi\r\n", "text line\r\n", "\r\n",
    "\n", "\r", ".", "\x16\x03\x01\x02\x00", "\xff\xfe\x00", "M\xc3\xa4IL FROM:<\xe2\x80\xae@x>\r\n",
    "GET / HTTP/1.1\r\n", "\x1b[2J\r\n"};
const char* const kServer[] = {
    "220 mx.example.com ESMTP\r\n", "250-mx\r\n", "250-PIPELINING\r\n", "250-CHUNKING\r\n", "250-AUTH PLAIN LOGIN\r\n",
    "250-SIZE 3\r\n", "250 STARTTLS\r\n", "250 ok\r\n", "250 2.0.0 queued\r\n", "354 go\r\n", "334 VXNlcm5hbWU6\r\n",
    "334 UGFzc3dvcmQ6\r\n", "334 \r\n", "235 2.7.0 ok\r\n", "535 5.7.8 no\r\n", "220 2.0.0 ready\r\n", "421 bye\r\n",
    "500 what\r\n", "502 5.5.2 no\r\n", "550 5.1.1 no such user\r\n", "554 5.7.1 no\r\n", "221 bye\r\n", "250",
    "-", " ", "\r\n", "\n", "\x00\x01"};

struct Step {
  Dir dir;
  std::string bytes;
};

// Anything in either direction: tokens, raw bytes, long lines, in any order.
std::vector<Step> chaos(std::mt19937& rng) {
  std::vector<Step> steps;
  const int n = 5 + static_cast<int>(rng() % 40);
  for (int i = 0; i < n; ++i) {
    const auto pick = rng() % 16;
    Step s{rng() % 2 == 0 ? Dir::client_to_server : Dir::server_to_client, {}};
    if (pick < 12) {
      s.bytes = s.dir == Dir::client_to_server ? kClient[rng() % std::size(kClient)] : kServer[rng() % std::size(kServer)];
    } else if (pick < 15) {
      const std::size_t len = rng() % 64;
      for (std::size_t k = 0; k < len; ++k) s.bytes.push_back(static_cast<char>(rng()));
    } else {
      s.bytes = std::string(1 + rng() % 9000, static_cast<char>('a' + rng() % 26)) + (rng() % 2 ? "\r\n" : "");
    }
    steps.push_back(std::move(s));
  }
  return steps;
}

// A session that authenticates, the ways clients do, between transactions and stray
// commands: every AUTH exchange the server can answer, including a bot's pipelined LOGIN
// (user and password sent before the first challenge) and a server that offers no AUTH.
std::vector<Step> authenticating(std::mt19937& rng, const std::string& secret) {
  std::vector<Step> steps;
  auto c = [&](std::string b) { steps.push_back({Dir::client_to_server, std::move(b)}); };
  auto s = [&](std::string b) { steps.push_back({Dir::server_to_client, std::move(b)}); };
  auto outcome = [&] {
    const char* const replies[] = {"235 2.7.0 Authentication successful\r\n", "535 5.7.8 Authentication failed\r\n",
                                   "454 4.7.0 Temporary authentication failure\r\n", "501 5.5.2 Syntax error\r\n"};
    s(replies[rng() % std::size(replies)]);
  };
  const std::string plain = base64(std::string("\0alice\0", 7) + secret), user = base64("alice"), pass = base64(secret);
  s("220 mx.example.com ESMTP\r\n");
  c(rng() % 4 == 0 ? "HELO client.example.org\r\n" : "EHLO client.example.org\r\n");
  s(rng() % 3 == 0 ? "250-mx\r\n250 PIPELINING\r\n" : "250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n");
  const int n = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < n; ++i) {
    switch (rng() % 10) {
      case 0: c("AUTH PLAIN " + plain + "\r\n"), outcome(); break;
      case 1: c("AUTH PLAIN\r\n"), s("334 \r\n"), c(plain + "\r\n"), outcome(); break;
      case 2:
        c("AUTH LOGIN\r\n"), s("334 VXNlcm5hbWU6\r\n"), c(user + "\r\n"), s("334 UGFzc3dvcmQ6\r\n"), c(pass + "\r\n");
        outcome();
        break;
      case 3: c("AUTH LOGIN " + user + "\r\n"), s("334 UGFzc3dvcmQ6\r\n"), c(pass + "\r\n"), outcome(); break;
      case 4:  // a bot: everything at once, then the server's answers
        c("AUTH LOGIN\r\n" + user + "\r\n" + pass + "\r\n");
        s("334 VXNlcm5hbWU6\r\n"), s("334 UGFzc3dvcmQ6\r\n"), outcome();
        break;
      case 5:
        if (rng() % 2 == 0) {
          c("AUTH LOGIN\r\n"), s("334 VXNlcm5hbWU6\r\n"), c("*\r\n"), s("501 5.7.0 Authentication cancelled\r\n");
        } else {  // the bot again, at a server that offers no AUTH: its lines become commands there
          c("AUTH LOGIN\r\n" + user + "\r\n" + pass + "\r\n");
          s("502 5.5.1 Not offered\r\n"), s("502 5.5.2 Error: command not recognized\r\n");
          s("502 5.5.2 Error: command not recognized\r\n");
        }
        break;
      case 6: c("AUTH PLAIN " + plain + "\r\n"), s(rng() % 2 ? "503 5.5.1 Already authenticated\r\n" : "502 5.5.1 Not offered\r\n"); break;
      case 7:
        c("MAIL FROM:<alice@example.org>\r\n"), s("250 2.1.0 Ok\r\n"), c("RCPT TO:<bob@example.com>\r\n");
        s("250 2.1.5 Ok\r\n"), c("DATA\r\n"), s("354 go ahead\r\n"), c("Subject: hi\r\n\r\nhello\r\n.\r\n");
        s("250 2.0.0 queued\r\n");
        break;
      case 8: c("XYZZY\r\n"), s("502 5.5.2 Error: command not recognized\r\n"); break;
      default: c("NOOP\r\n"), s("250 2.0.0 Ok\r\n"); break;
    }
  }
  if (rng() % 2 == 0) c("QUIT\r\n"), s("221 2.0.0 Bye\r\n");
  return steps;
}

bool one_escaped_line(const std::string& line) {
  for (const char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// 3,000 sessions into one sensor made with cfg.
void random_sessions(config::Config cfg, std::uint32_t seed) {
  Rig rig(std::move(cfg));
  std::mt19937 rng(seed);
  const char* const ips[] = {"192.0.2.7", "192.0.2.8", "198.51.100.9", "203.0.113.1", "2001:db8::1", "2001:db8::2"};
  std::size_t lines_before = 0, alerts_before = 0;
  for (std::uint64_t lcid = 1; lcid <= 3000; ++lcid) {
    const std::string secret = "Pw-" + std::to_string(rng()) + "-z";
    const std::vector<std::string> forms = {secret, base64(secret), base64(std::string("\0alice\0", 7) + secret)};
    auto s = rig.open(lcid, ips[rng() % std::size(ips)]);
    std::uint64_t in = 0, out = 0;
    for (const auto& step : lcid % 2 == 0 ? chaos(rng) : authenticating(rng, secret)) {
      std::string_view rest = step.bytes;
      while (!rest.empty()) {  // the relay reads whatever arrived: cut anywhere
        const std::size_t cut = std::min<std::size_t>(rest.size(), 1 + rng() % 40);
        s->on_data(step.dir, {rest.data(), cut});
        rest.remove_prefix(cut);
      }
      (step.dir == Dir::client_to_server ? in : out) += step.bytes.size();
    }
    if (rng() % 2 == 0) s->on_eof(Dir::client_to_server);
    s->on_close(Termination::client_abort);

    REQUIRE(rig.outputs.rows.size() == lcid);
    const auto& row = rig.outputs.rows.back();
    CHECK(row.lcid == lcid);
    CHECK(row.bytes_in == in);
    CHECK(row.bytes_out == out);
    const std::string mine = "[" + std::to_string(lcid) + "] ";
    for (std::size_t i = lines_before; i < rig.outputs.lines.size(); ++i) {
      const auto& line = rig.outputs.lines[i];
      CHECK_MESSAGE(line.starts_with(mine), line);
      CHECK_MESSAGE(one_escaped_line(line), line);
      for (const auto& f : forms) CHECK_MESSAGE(line.find(f) == std::string::npos, line);
    }
    for (std::size_t i = alerts_before; i < rig.outputs.alerts.size(); ++i) {
      const auto& a = rig.outputs.alerts[i];
      CHECK(!a.type.empty());
      for (const auto& f : forms) {
        CHECK_MESSAGE(a.detail.find(f) == std::string::npos, a.detail);
        for (const auto& u : a.users) CHECK_MESSAGE(u.find(f) == std::string::npos, u);
      }
    }
    for (const auto& f : forms)
      for (const std::string* field : {&row.helo, &row.auth_user, &row.domain, &row.user})
        CHECK_MESSAGE(field->find(f) == std::string::npos, *field);
    lines_before = rig.outputs.lines.size();
    alerts_before = rig.outputs.alerts.size();
  }
  CHECK(rig.outputs.alerts.size() > 0);  // the detectors saw enough to fire
}

}  // namespace

TEST_CASE("3000 random inbound sessions: every byte counted, lines escaped, no password anywhere") {
  random_sessions({}, 20261207);
}

TEST_CASE("3000 random outbound sessions (SMTP Out), the same") {
  config::Config cfg;
  cfg.listeners.front().name = "out";
  cfg.listeners.front().direction = config::Direction::outbound;
  random_sessions(std::move(cfg), 20261208);
}

TEST_CASE("3000 random sessions with message data in the transcript, the same") {
  config::Config cfg;
  cfg.transcripts.message_data = true;
  random_sessions(std::move(cfg), 20261209);
}
