// 100,000 random buffers, SMTP-flavoured and raw, in both directions: no crash, bounded state.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "recorder.hpp"

using namespace smtp::proto;

namespace {

const char* const client_tokens[] = {
    "EHLO x\r\n", "HELO x\r\n", "MAIL FROM:<a@b.c>\r\n", "MAIL FROM:<a@b.c> SIZE=4\r\n", "RCPT TO:<d@e.f>\r\n",
    "DATA\r\n", "BDAT 5\r\n", "BDAT 3 LAST\r\n", "BDAT 0 LAST\r\n", "AUTH LOGIN\r\n", "AUTH PLAIN AGEAYg==\r\n",
    "AUTH XOAUTH2 dXNlcj1hAWF1dGg9QgEB\r\n", "AUTH CRAM-MD5\r\n", "*\r\n", "YWxpY2U=\r\n", "STARTTLS\r\n",
    "RSET\r\n", "NOOP\r\n", "QUIT\r\n", ".\r\n", "\r\n.\r\n", "\n.\n", "\r.\r", "..x\r\n", "text line\r\n",
    "\r\n", "\n", "\r", ".", "\x16\x03\x01", "\xff\xfe\x00", "M\xc3\xa4IL\r\n"};
const char* const server_tokens[] = {
    "220 mx ESMTP\r\n", "250-mx\r\n", "250-PIPELINING\r\n", "250-CHUNKING\r\n", "250-AUTH PLAIN LOGIN\r\n",
    "250-SIZE 3\r\n", "250 STARTTLS\r\n", "250 ok\r\n", "250 2.0.0 ok\r\n", "354 go\r\n",
    "334 VXNlcm5hbWU6\r\n", "235 2.7.0 ok\r\n", "535 5.7.8 no\r\n", "220 2.0.0 ready\r\n", "421 bye\r\n",
    "500 what\r\n", "502 5.5.2 no\r\n", "554 5.7.1 no\r\n", "250", "-", " ", "\r\n", "\n"};

void add_noise(std::mt19937& rng, std::string& buf) {
  const int n = static_cast<int>(rng() % 64);
  for (int i = 0; i < n; ++i) buf.push_back(static_cast<char>(rng()));
}

}  // namespace

// Structured sessions (tokens of the right direction, a little noise) get deep into the state machine;
// chaotic ones (anything anywhere) hit the desync paths. 2,000 sessions of 50 buffers each.
TEST_CASE("100,000 random buffers: no crash, no unbounded state") {
  std::mt19937 rng(100000);
  std::uint64_t events = 0;
  std::uint64_t stopped = 0;
  std::uint64_t messages = 0;
  for (int session = 0; session < 2000; ++session) {
    const bool chaos = session % 4 == 0;
    Limits limits;
    limits.max_line = 1 + rng() % 300;
    limits.max_pending = 1 + rng() % 20;
    Options options;
    options.data_lines = rng() % 2 == 0;
    options.decode_after_starttls = rng() % 3 == 0;
    fixture::Recorder rec;
    Decoder d(rec, limits, options);
    for (int b = 0; b < 50; ++b) {
      const Dir dir = rng() % 2 == 0 ? Dir::client_to_server : Dir::server_to_client;
      const bool client = dir == Dir::client_to_server;
      std::string buf;
      const int pieces = static_cast<int>(rng() % 6);
      for (int p = 0; p < pieces; ++p) {
        if (rng() % (chaos ? 3 : 40) == 0) {
          add_noise(rng, buf);
        } else if (chaos ? rng() % 2 == 0 : client) {
          buf.append(std::string_view(client_tokens[rng() % std::size(client_tokens)]));
        } else {
          buf.append(std::string_view(server_tokens[rng() % std::size(server_tokens)]));
        }
      }
      d.feed(dir, std::as_bytes(std::span(buf.data(), buf.size())));
      if (rng() % 200 == 0) d.close(dir);
      REQUIRE(d.pending() <= limits.max_pending);
    }
    d.close(Dir::client_to_server);
    d.close(Dir::server_to_client);
    events += rec.events.size();
    stopped += d.sniffing() ? 0 : 1;
    for (const auto& e : rec.events) messages += e.rfind("M ", 0) == 0 ? 1 : 0;
  }
  // The buffers did exercise the decoder: many events, messages completed, desyncs detected.
  CHECK(events > 100000);
  CHECK(messages > 100);
  CHECK(stopped > 0);
  CHECK(stopped < 2000);
  MESSAGE("events: " << events << ", messages: " << messages << ", sessions that stopped sniffing: " << stopped);
}
