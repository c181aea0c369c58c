// Decoder behaviour beyond the fixtures: memory, allocation, exceptions, redaction, accessors.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "alloc_counter.hpp"
#include "proto/base64.hpp"
#include "recorder.hpp"

using namespace smtp::proto;

namespace {

struct Session {
  fixture::Recorder rec;
  Decoder d;
  explicit Session(Limits l = {}, Options o = {}) : d(rec, l, o) {}
  void c(std::string_view s) { d.feed(Dir::client_to_server, std::as_bytes(std::span(s.data(), s.size()))); }
  void s(std::string_view s) { d.feed(Dir::server_to_client, std::as_bytes(std::span(s.data(), s.size()))); }
};

std::string b64(std::string_view in) {
  static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

TEST_CASE("the decoder object is small") { CHECK(sizeof(Decoder) <= 1024); }

// Callbacks that allocate nothing, so allocation counts are the decoder's own.
struct Quiet : DecoderCallbacks {
  void on_command(const Command&) override {}
  void on_reply(const Reply&, const Command*) override {}
  void on_message(const MessageInfo&) override {}
  void on_auth(const AuthAttempt&) override {}
  void on_tls_started() override {}
  void on_anomaly(Anomaly, std::string_view) override {}
};

void feed(Decoder& d, Dir dir, std::string_view v) { d.feed(dir, std::as_bytes(std::span(v.data(), v.size()))); }

TEST_CASE("steady state: whole lines allocate nothing per command, reply or message") {
  Quiet quiet;
  Decoder d(quiet, Limits{});
  const std::string txn =
      "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n";
  const std::string replies = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n";
  const std::string body = "Subject: x\r\n\r\nhello\r\n.\r\n";
  feed(d, Dir::server_to_client, "220 mx ESMTP\r\n");
  feed(d, Dir::client_to_server, "EHLO c.example\r\n");
  feed(d, Dir::server_to_client, "250-mx\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n");
  const auto round = [&] {
    feed(d, Dir::client_to_server, txn);
    feed(d, Dir::server_to_client, replies);
    feed(d, Dir::client_to_server, body);
    feed(d, Dir::server_to_client, "250 2.0.0 queued\r\n");
  };
  for (int i = 0; i < 3; ++i) round();  // warm-up: buffers reach their working size
  const auto start = alloc::count;
  for (int i = 0; i < 1000; ++i) round();
  CHECK(alloc::count - start == 0);
}

TEST_CASE("an idle session with whole lines owns no heap memory") {
  Quiet quiet;
  const auto live_before = alloc::live;
  {
    Decoder d(quiet, Limits{});
    feed(d, Dir::server_to_client, "220 mx ESMTP\r\n");
    feed(d, Dir::client_to_server, "HELO c\r\n");
    feed(d, Dir::server_to_client, "250 mx\r\n");
    feed(d, Dir::client_to_server, "NOOP\r\n");
    feed(d, Dir::server_to_client, "250 ok\r\n");
    CHECK(alloc::live - live_before <= 256);  // at most the small pending ring
  }
}

TEST_CASE("floods stay bounded: a line without end, pipelined commands, a huge multi-line reply") {
  Limits limits;
  limits.max_line = 1024;
  limits.max_pending = 16;
  const std::string junk(64 * 1024, 'A');
  std::string cmds = "\r\n";
  for (int i = 0; i < 500; ++i) cmds += "RCPT TO:<" + std::string(900, 'x') + "@example.org>\r\n";
  std::string reply;
  for (int i = 0; i < 5000; ++i) reply += "250-" + std::string(200, 'y') + "\r\n";
  std::string data = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
  for (int i = 0; i < 1000; ++i) data += std::string(1000, 'z') + "\r\n";  // pipelined before the 354

  Quiet quiet;
  Decoder d(quiet, limits);
  feed(d, Dir::server_to_client, "220 mx\r\n");
  const auto live_before = alloc::live;
  alloc::peak = alloc::live;
  for (int i = 0; i < 64; ++i) feed(d, Dir::client_to_server, junk);  // 4 MiB without LF
  feed(d, Dir::client_to_server, cmds);
  CHECK(d.pending() <= 16);
  feed(d, Dir::server_to_client, reply);
  feed(d, Dir::client_to_server, data);
  // Bounded by max_pending lines of max_line bytes, one line, one reply and one hold of max_line each.
  CHECK(alloc::peak - live_before <= 16 * (1024 + 64) + 4 * 4096);
}

TEST_CASE("a callback that throws stops sniffing; the decoder never throws") {
  struct Thrower : fixture::Recorder {
    void on_command(const Command&) override { throw std::runtime_error("sensor bug"); }
  } rec;
  Decoder d(rec, Limits{});
  const std::string a = "220 mx\r\n";
  const std::string b = "EHLO x\r\n";
  d.feed(Dir::server_to_client, std::as_bytes(std::span(a.data(), a.size())));
  CHECK_NOTHROW(d.feed(Dir::client_to_server, std::as_bytes(std::span(b.data(), b.size()))));
  CHECK_FALSE(d.sniffing());
  REQUIRE(!rec.events.empty());
  CHECK(rec.events.back() == "! sniffing_off: internal error");
  CHECK_NOTHROW(d.feed(Dir::client_to_server, std::as_bytes(std::span(b.data(), b.size()))));
  CHECK(d.stats().client_opaque == b.size());
}

TEST_CASE("accessors: helo name, capabilities, QUIT acknowledged, TLS") {
  Session s;
  s.s("220 mx\r\n");
  s.c("EHLO  relay.example.org extra\r\n");
  s.s("250-mx\r\n250-AUTH LOGIN\r\n250 STARTTLS\r\n");
  CHECK(s.d.helo() == "relay.example.org");
  CHECK(s.d.capabilities().auth);
  CHECK(s.d.capabilities().starttls);
  CHECK_FALSE(s.d.quit_acknowledged());
  s.c("QUIT\r\n");
  s.s("221 bye\r\n");
  CHECK(s.d.quit_acknowledged());
  CHECK_FALSE(s.d.tls());
  CHECK(s.d.stats().client_lines == 2);
  CHECK(s.d.stats().server_lines == 5);
}

TEST_CASE("the HELO name ends at any whitespace") {
  Session s;
  s.s("220 mx\r\n");
  s.c("EHLO\t relay.example.org\textra\r\n");
  CHECK(s.d.helo() == "relay.example.org");
}

// Which client lines after AUTH are credentials: one letter a line, A the AUTH command, R a redacted
// response, C a command. A line is a credential while the mechanism still owes a step.
TEST_CASE("AUTH: lines the mechanism owes are credentials, pipelined lines after them are commands") {
  const std::pair<const char*, const char*> cases[] = {
      {"AUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1\r\nNOOP\r\n", "AC"},
      {"AUTH PLAIN =\r\nNOOP\r\n", "AC"},
      {"AUTH PLAIN\r\nAGFsaWNlAHMzY3IzdC1QYTU1\r\nNOOP\r\n", "ARC"},
      {"AUTH LOGIN YWxpY2U=\r\nczNjcjN0LVBhNTU=\r\nNOOP\r\n", "ARC"},
      {"AUTH LOGIN\r\nYWxpY2U=\r\nczNjcjN0LVBhNTU=\r\nNOOP\r\n", "ARRC"},
      {"AUTH LOGIN\r\n*\r\nNOOP\r\n", "ARC"},
      {"AUTH CRAM-MD5\r\nYWxpY2UgMDAw\r\nNOOP\r\n", "ARC"},
      {"AUTH CRAM-MD5 junk\r\nYWxpY2UgMDAw\r\nNOOP\r\n", "ARC"},
      {"AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ==\r\nNOOP\r\n", "AC"},
      {"AUTH XOAUTH2\r\ndXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ==\r\nNOOP\r\n", "ARC"},
      {"AUTH NTLM\r\nTlRMTVNT\r\nNOOP\r\nQUIT\r\n", "ARRR"},
      {"AUTH\r\nNOOP\r\n", "AR"},
      {"AUTH\tPLAIN\tAGFsaWNlAHMzY3IzdC1QYTU1\r\nNOOP\r\n", "AC"},
  };
  for (const auto& tc : cases) {
    const std::string client = tc.first;  // not a structured binding: clang 14 cannot capture those
    const std::string want = tc.second;
    CAPTURE(client);
    Session s;
    s.s("220 mx\r\n");
    s.c("EHLO c\r\n");
    s.s("250-mx\r\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2 NTLM\r\n");
    const auto before = s.rec.events.size();
    s.c(client);
    std::string got;
    for (std::size_t i = before; i < s.rec.events.size(); ++i) {
      const auto& e = s.rec.events[i];
      if (e.rfind("C AUTH ", 0) == 0) got += 'A';
      else if (e.rfind("C auth_response ", 0) == 0) got += 'R';
      else if (e.rfind("C ", 0) == 0) got += 'C';
    }
    CHECK(got == want);
    CHECK(s.rec.seen.find("czNjcjN0LVBhNTU") == std::string::npos);
    CHECK(s.rec.seen.find("AGFsaWNlAHMzY3IzdC1QYTU1") == std::string::npos);
    CHECK(s.rec.seen.find("YWxpY2UgMDAw") == std::string::npos);
  }
}

TEST_CASE("AUTH: a line left out of the full pending queue keeps the exchange redacting, its outcome unknown") {
  Limits limits;
  limits.max_pending = 2;
  Session s(limits);
  s.s("220 mx\r\n");
  s.c("EHLO c\r\n");
  s.s("250-mx\r\n250 AUTH PLAIN\r\n");
  // The AUTH is not queued: a 334 to it would go unseen, so the line after it stays a credential.
  s.c("NOOP\r\nNOOP\r\nAUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1\r\nAGFsaWNlAHMzY3IzdC1QYTU1\r\n");
  s.s("250 ok\r\n250 ok\r\n334 \r\n535 no\r\n");
  s.c("QUIT\r\n");
  s.s("221 bye\r\n");
  CHECK(s.rec.seen.find("AGFsaWNlAHMzY3IzdC1QYTU1") == std::string::npos);
  REQUIRE(s.rec.events.size() >= 2);
  CHECK(s.rec.events[s.rec.events.size() - 3] == "C auth_response \"[redacted]\"");
  CHECK(s.rec.events.back() == "A PLAIN name=PLAIN user=\"alice\" aborted code=221 responses=3 advertised");
}

TEST_CASE("bad commands and permanent failures are told apart by the reply") {
  Session s;
  s.s("220 mx\r\n");
  s.c("XYZZY\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n");
  s.s("502 5.5.2 Error: command not recognized\r\n250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n");
  const std::vector<std::string> want = {
      "S 502 5.5.2 other to=other bad",
      "S 250 mail to=MAIL",
      "S 550 5.1.1 rcpt to=RCPT permfail",
      "S 554 5.5.1 data to=DATA permfail",
  };
  std::vector<std::string> replies;
  for (const auto& e : s.rec.events)
    if (e.rfind("S ", 0) == 0 && e.find("greeting") == std::string::npos) replies.push_back(e);
  CHECK(replies == want);
}

TEST_CASE("redaction: random credentials over every mechanism never reach any event") {
  std::mt19937 rng(4954);
  const char* mechs[] = {"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"};
  for (int round = 0; round < 400; ++round) {
    std::string password;
    const int len = 8 + static_cast<int>(rng() % 24);
    for (int i = 0; i < len; ++i) password.push_back(static_cast<char>('!' + rng() % 94));
    const std::string user = "user" + std::to_string(round);
    const std::string mech = mechs[round % 4];
    std::string response;
    if (mech == "PLAIN") response = b64(std::string("\0", 1) + user + std::string("\0", 1) + password);
    else if (mech == "LOGIN") response = b64(user);
    else if (mech == "CRAM-MD5") response = b64(user + " " + password);
    else response = b64("user=" + user + "\x01" + "auth=Bearer " + password + "\x01\x01");
    const bool pipelined = rng() % 2 == 0;
    const bool with_ir = mech != "CRAM-MD5" && rng() % 2 == 0;
    const bool advertised = rng() % 2 == 0;

    Session s;
    s.s("220 mx\r\n");
    s.c("EHLO c\r\n");
    s.s(advertised ? "250-mx\r\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n" : "250 mx\r\n");
    std::string client = "AUTH " + mech + (with_ir ? " " + response : "") + "\r\n";
    if (!with_ir) client += response + "\r\n";
    if (mech == "LOGIN") client += b64(password) + "\r\n";
    if (pipelined) {
      s.c(client);
      s.s("334 x\r\n334 y\r\n535 5.7.8 no\r\n");
    } else {
      std::string_view rest = client;
      while (!rest.empty()) {
        const auto nl = rest.find('\n');
        s.c(rest.substr(0, nl + 1));
        rest.remove_prefix(nl + 1);
        s.s(rest.empty() ? "535 5.7.8 no\r\n" : "334 next\r\n");
      }
    }
    s.d.close(Dir::client_to_server);
    s.d.close(Dir::server_to_client);
    CAPTURE(mech);
    CAPTURE(client);
    CHECK(s.rec.seen.find(password) == std::string::npos);
    CHECK(s.rec.seen.find(b64(password)) == std::string::npos);
    CHECK(s.rec.seen.find(response) == std::string::npos);
    std::string events;
    for (const auto& e : s.rec.events) events += e + "\n";
    CHECK(events.find(password) == std::string::npos);
    CHECK(events.find("user=\"" + user + "\"") != std::string::npos);
  }
}

TEST_CASE("usernames are sanitised and capped") {
  Session s;
  s.s("220 mx\r\n");
  s.c("EHLO c\r\n");
  s.s("250-mx\r\n250 AUTH LOGIN\r\n");
  s.c("AUTH LOGIN " + b64("evil\r\nC --> forged line") + "\r\n");
  s.s("535 no\r\n");
  REQUIRE(!s.rec.events.empty());
  CHECK(s.rec.events.back() == "A LOGIN name=LOGIN user=\"evil??C --> forged line\" failure code=535 responses=1 advertised");
  s.c("AUTH LOGIN " + b64(std::string(600, 'u')) + "\r\n");
  s.s("535 no\r\n");
  CHECK(s.rec.events.back().find(std::string(256, 'u') + "\"") != std::string::npos);
  CHECK(s.rec.events.back().find(std::string(257, 'u')) == std::string::npos);
}

TEST_CASE("a terminating relay learns exactly where TLS begins in both streams") {
  Session s(Limits{}, Options{false, true});
  s.s("220 mx\r\n");
  s.c("EHLO c\r\n");
  s.s("250-mx\r\n250 STARTTLS\r\n");
  CHECK_FALSE(s.d.awaiting_starttls());
  s.c("NOOP\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<x@y>\r\n");
  CHECK(s.d.awaiting_starttls());
  CHECK(s.d.starttls_tail() == std::string_view("RSET\r\nMAIL FROM:<x@y>\r\n").size());
  // The NOOP's reply and the 220 arrive together, with junk behind the 220.
  s.s("250 ok\r\n220 go ahead\r\n\x16\x03junk");
  CHECK_FALSE(s.d.awaiting_starttls());
  CHECK(s.d.tls());
  CHECK(s.d.tls_server_tail() == 6);
  // After the handshake the relay feeds cleartext again, and decoding starts over.
  s.c("EHLO again\r\n");
  s.s("250 mx\r\n");
  CHECK(s.d.helo() == "again");
}

TEST_CASE("a refused STARTTLS leaves the session in cleartext with the pipelined bytes decoded") {
  Session s(Limits{}, Options{false, true});
  s.s("220 mx\r\n");
  s.c("STARTTLS\r\nNOOP\r\n");
  CHECK(s.d.awaiting_starttls());
  CHECK(s.d.starttls_tail() == 6);
  s.s("454 TLS not available\r\n250 ok\r\n");
  CHECK_FALSE(s.d.awaiting_starttls());
  CHECK_FALSE(s.d.tls());
  CHECK(s.d.stats().client_lines == 2);
}

TEST_CASE("a flood after STARTTLS still leaves the relay an exact cut") {
  Session s(Limits{}, Options{false, true});
  s.s("220 mx\r\n");
  std::string flood = "STARTTLS\r\n";
  for (int i = 0; i < 2000; ++i) flood += "RSET\r\n";
  s.c(flood);
  CHECK(s.d.awaiting_starttls());  // the hold overflowed, but the reply is still awaited
  CHECK(s.d.starttls_tail() == flood.size() - 10);
  s.s("220 go\r\n");
  CHECK_FALSE(s.d.awaiting_starttls());
  CHECK(s.d.tls());
}

TEST_CASE("a decoder that gives up stops awaiting the STARTTLS reply") {
  Session s(Limits{}, Options{false, true});
  s.s("220 mx\r\n");
  std::string flood = "STARTTLS\r\n";
  for (int i = 0; i < 2000; ++i) flood += "RSET\r\n";
  s.c(flood);
  s.s("454 no\r\n");
  CHECK_FALSE(s.d.awaiting_starttls());
  CHECK_FALSE(s.d.tls());
}

TEST_CASE("server bytes between a terminated STARTTLS and the client's first TLS bytes are not believed, however cut") {
  for (const bool one_read : {true, false}) {
    Session s(Limits{}, Options{false, true});
    s.s("220 mx\r\n");
    s.c("STARTTLS\r\n");
    if (one_read) {
      s.s("220 go\r\n250 forged\r\n");
    } else {
      s.s("220 go\r\n");
      s.s("250 forged\r\n");
    }
    s.c("EHLO c\r\n");
    s.s("250 mx\r\n");
    CHECK(s.d.helo() == "c");
    CHECK(s.d.stats().server_opaque == 12);
    for (const auto& e : s.rec.events) CHECK(e.find("forged") == std::string::npos);
    // The real reply pairs with the EHLO.
    CHECK(std::any_of(s.rec.events.begin(), s.rec.events.end(), [](const std::string& e) { return e == "S 250 helo to=EHLO"; }));
  }
}
