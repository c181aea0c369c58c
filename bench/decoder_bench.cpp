// Decoder micro-benchmark: DATA bytes scanned per second and command/reply lines per second, one thread.
// Not a test: it prints figures. Targets: >= 2 GB/s of DATA, >= 5 million command/reply lines/s.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "proto/smtp_decoder.hpp"

namespace {

using namespace smtp::proto;
using Clock = std::chrono::steady_clock;

// What a sensor does per event, roughly: bump counters, look at a field or two.
struct CountingSink : DecoderCallbacks {
  std::uint64_t commands = 0, replies = 0, reply_lines = 0, messages = 0, bytes = 0, auths = 0, anomalies = 0;
  std::uint64_t by_verb[verb_count] = {};
  void on_command(const Command& c) override {
    ++commands;
    ++by_verb[static_cast<std::size_t>(c.verb)];
  }
  void on_reply(const Reply& r, const Command*) override {
    ++replies;
    reply_lines += r.lines;
  }
  void on_message(const MessageInfo& m) override {
    ++messages;
    bytes += m.size;
  }
  void on_auth(const AuthAttempt&) override { ++auths; }
  void on_tls_started() override {}
  void on_anomaly(Anomaly, std::string_view) override { ++anomalies; }
};

void feed(Decoder& d, Dir dir, std::string_view s) { d.feed(dir, std::as_bytes(std::span(s.data(), s.size()))); }

// ~10 MiB message: headers, prose with sentences and stuffed dots, then a base64 attachment. With
// `prose_only` it is text all the way (a dot every ~40 bytes: the scanner's worst realistic case).
std::string make_message(bool prose_only) {
  std::string m =
      "Received: from client.example.org (client.example.org [192.0.2.10])\r\n\tby mx.example.com (Postfix) "
      "with ESMTPS id 4F1A2B3C4D\r\n\tfor <bob@example.net>; Mon, 23 Nov 2026 07:36:54 +0000 (UTC)\r\n"
      "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Quarterly figures\r\n"
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  const std::string prose =
      "Dear Bob, please find the figures attached. The totals are up 4.5% on last quarter, see p. 3.\r\n"
      "We should discuss the details on Monday... or Tuesday. Let me know what suits you best.\r\n"
      "..this line started with a dot and was stuffed by the client.\r\n"
      "Regards, Alice. (alice@example.org, https://www.example.org/q3.html)\r\n\r\n";
  while (m.size() < (prose_only ? 10 : 2) * 1024 * 1024) m += prose;
  m += "--b1\r\nContent-Type: application/pdf; name=\"q3.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  const std::string b64 = "JVBERi0xLjcKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+CnN0cmVh\r\n";
  while (m.size() < 10 * 1024 * 1024) m += b64;
  m += "--b1--\r\n";
  return m;
}

double best_of(int runs, auto&& body) {
  double best = 1e100;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

void bench_data(bool prose_only) {
  const std::string msg = make_message(prose_only) + ".\r\n";
  constexpr std::size_t read_size = 64 * 1024;  // a relay's read buffer
  constexpr int messages = 20;
  CountingSink sink;
  double scan_seconds = 0;
  const double total = best_of(5, [&] {
    Decoder d(sink, Limits{});
    feed(d, Dir::server_to_client, "220 mx.example.com ESMTP\r\n");
    feed(d, Dir::client_to_server, "EHLO client.example.org\r\n");
    feed(d, Dir::server_to_client, "250-mx.example.com\r\n250-PIPELINING\r\n250 SIZE 52428800\r\n");
    double scan = 0;
    for (int i = 0; i < messages; ++i) {
      feed(d, Dir::client_to_server, "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n");
      feed(d, Dir::server_to_client, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n");
      const auto t0 = Clock::now();
      for (std::size_t off = 0; off < msg.size(); off += read_size)
        feed(d, Dir::client_to_server, std::string_view(msg).substr(off, read_size));
      scan += std::chrono::duration<double>(Clock::now() - t0).count();
      feed(d, Dir::server_to_client, "250 2.0.0 Ok: queued as 4F1A2B3C4D\r\n");
    }
    scan_seconds = scan_seconds == 0 ? scan : std::min(scan_seconds, scan);
  });
  const double bytes = static_cast<double>(msg.size()) * messages;
  std::printf("DATA (%s): %d x %.1f MiB in %zu KiB reads: %.2f GB/s scanned (%.3f s; session %.3f s), %llu msgs\n",
              prose_only ? "text only" : "text + base64 attachment", messages, static_cast<double>(msg.size()) / (1 << 20), read_size / 1024, bytes / scan_seconds / 1e9,
              scan_seconds, total, static_cast<unsigned long long>(sink.messages));
}

struct Script {
  std::vector<std::pair<Dir, std::string>> reads;
  std::uint64_t lines = 0;  // command and reply lines (message content not included)
};

// A realistic delivery session: EHLO with an 8-line reply, a pipelined transaction with 3 recipients,
// a small message, a second transaction, QUIT. `lockstep` sends one line per read instead.
Script make_session(bool lockstep) {
  Script s;
  const auto add = [&](Dir dir, std::string text, std::uint64_t lines) {
    if (lockstep && lines > 1) {
      std::size_t start = 0;
      while (start < text.size()) {
        const auto nl = text.find('\n', start);
        s.reads.emplace_back(dir, text.substr(start, nl + 1 - start));
        start = nl + 1;
      }
    } else {
      s.reads.emplace_back(dir, std::move(text));
    }
    s.lines += lines;
  };
  const auto S = Dir::server_to_client;
  const auto C = Dir::client_to_server;
  add(S, "220 mx.example.com ESMTP Postfix\r\n", 1);
  add(C, "EHLO client.example.org\r\n", 1);
  add(S,
      "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n250-STARTTLS\r\n"
      "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
      8);
  for (int t = 0; t < 2; ++t) {
    add(C,
        "MAIL FROM:<alice@example.org> SIZE=1432 BODY=8BITMIME\r\nRCPT TO:<bob@example.net>\r\n"
        "RCPT TO:<carol@example.net>\r\nRCPT TO:<dave@example.net>\r\nDATA\r\n",
        5);
    add(S,
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <dave@example.net>: Recipient address "
        "rejected: User unknown in virtual mailbox table\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
        5);
    s.reads.emplace_back(C, "Subject: hi\r\nFrom: alice@example.org\r\n\r\nHello Bob.\r\n.\r\n");
    add(S, "250 2.0.0 Ok: queued as 4F1A2B3C4D\r\n", 1);
  }
  add(C, "QUIT\r\n", 1);
  add(S, "221 2.0.0 Bye\r\n", 1);
  return s;
}

void bench_lines(bool lockstep) {
  const Script script = make_session(lockstep);
  constexpr int sessions = 200000;
  CountingSink sink;
  const double seconds = best_of(5, [&] {
    for (int i = 0; i < sessions; ++i) {
      Decoder d(sink, Limits{});
      for (const auto& [dir, text] : script.reads) feed(d, dir, text);
      d.close(Dir::client_to_server);
      d.close(Dir::server_to_client);
    }
  });
  const double lines = static_cast<double>(script.lines) * sessions;
  std::printf("lines (%s): %d sessions x %llu lines: %.2f million command/reply lines/s (%.3f s, %.0f sessions/s)\n",
              lockstep ? "one line per read" : "pipelined reads", sessions,
              static_cast<unsigned long long>(script.lines), lines / seconds / 1e6, seconds, sessions / seconds);
}

}  // namespace

// decoder_bench [data|lines|all]
int main(int argc, char** argv) {
  const std::string_view what = argc > 1 ? argv[1] : "all";
  std::printf("sizeof(Decoder) = %zu bytes\n", sizeof(Decoder));
  if (what == "data" || what == "all") {
    bench_data(false);
    bench_data(true);
  }
  if (what == "lines" || what == "all") {
    bench_lines(false);
    bench_lines(true);
  }
  return 0;
}
