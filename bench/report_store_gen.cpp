// Builds a session store for the report benchmark: a year of synthetic sessions written
// through the daemon's own write path (SessionStore: batched rows plus roll-ups in the
// same transactions), and prints the write rate. Not a test: it prints figures.
//
//   bench/report_store_gen OUT.db [sessions] [domains] [users] [ips] [days] [outbound%]
//   defaults: 10,000,000 sessions, 5,000 domains, 50,000 users, 200,000 IPs, 365 days, 0%
//
// OUT.db must not exist yet (write it under /tmp: 10 M sessions take a few GB). The
// sessions end now and are spread evenly over the days, in time order as the daemon
// writes them. Skew: domains, users and IPs are drawn with a Zipf-like law (rank k has
// weight ~1/k), so the busiest domain gets ~11% of the inbound sessions and the long
// tail a handful a year. 45% of sessions are authenticated submissions (user, the
// user's domain, the user's own IP); the rest are inbound MX sessions. With outbound% >
// 0, that share of the sessions becomes the MTA's deliveries through an outbound listener
// "out" (SPEC 14): from one local client, user the sender, ip the remote server.
#include "store/session_store.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <sys/resource.h>

using namespace std::chrono;
using smtp::store::SessionRecord;
using smtp::store::SessionStore;

namespace {

// Rank in [0, n) with P(rank < k) = log(k + 1) / log(n + 1): weight ~ 1/(k + 1).
std::uint64_t zipf(std::mt19937_64& rng, std::uint64_t n) {
  const double u = std::uniform_real_distribution<double>(0, 1)(rng);
  const auto k = static_cast<std::uint64_t>(std::exp(u * std::log(static_cast<double>(n) + 1))) - 1;
  return std::min(k, n - 1);
}

std::string ip_text(std::uint64_t i) {
  return "100." + std::to_string(64 + (i >> 16) % 64) + "." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
}

double cpu_seconds(int who = RUSAGE_SELF) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT.db [sessions] [domains] [users] [ips] [days] [outbound%%]\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  auto arg = [&](int i, std::uint64_t def) { return argc > i ? std::strtoull(argv[i], nullptr, 10) : def; };
  const std::uint64_t sessions = arg(2, 10'000'000), domains = arg(3, 5'000), users = arg(4, 50'000),
                      ips = arg(5, 200'000), days = arg(6, 365), outbound_pct = arg(7, 0);
  if (std::filesystem::exists(out)) {
    std::fprintf(stderr, "%s exists: give a new path\n", out.c_str());
    return 2;
  }
  const std::int64_t end_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::int64_t span_ms = static_cast<std::int64_t>(days) * 86'400'000;
  const std::int64_t begin_ms = end_ms - span_ms;

  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> pct(0, 99);
  std::vector<std::string> domain_names(domains);
  for (std::uint64_t d = 0; d < domains; ++d) domain_names[d] = std::string("d").append(std::to_string(d)).append(".example");

  constexpr std::size_t kQueue = 1 << 18;
  constexpr std::uint64_t kAhead = 100'000;  // stay this far ahead of the writer, never drop
  SessionStore store(out, hours(24 * 3660), kQueue);
  const auto t0 = steady_clock::now();
  const double cpu0 = cpu_seconds(), gen0 = cpu_seconds(RUSAGE_THREAD);
  std::uint64_t last_report = 0;
  for (std::uint64_t i = 0; i < sessions; ++i) {
    SessionRecord r;
    r.lcid = 1'000'000'000 + i;
    r.start_ms = begin_ms + static_cast<std::int64_t>(static_cast<double>(span_ms) * static_cast<double>(i) / static_cast<double>(sessions));
    r.end_ms = r.start_ms + 200 + pct(rng) * 50;
    r.listener = "smtp";
    r.client_port = static_cast<std::uint16_t>(1024 + rng() % 60000);
    r.upstream = "127.0.0.1:25";
    r.termination = "quit";
    const int roll = pct(rng);
    if (roll < 45) {  // authenticated submission
      const std::uint64_t u = zipf(rng, users);
      const std::uint64_t d = u % domains;
      r.auth_user = "u" + std::to_string(u) + "@" + domain_names[d];
      r.auth_result = pct(rng) < 97 ? "success" : "failure";
      r.domain = domain_names[d];
      r.client_ip = ip_text((u * 7 + rng() % 3) % ips);
      r.helo = "client" + std::to_string(u);
      r.messages = r.auth_result == "success" ? 1 + static_cast<std::uint32_t>(rng() % 5) : 0;
    } else {  // inbound MX
      r.domain = domain_names[zipf(rng, domains)];
      r.client_ip = ip_text(zipf(rng, ips));
      r.helo = "mx.sender.example";
      r.blocked = pct(rng) < 7;
      r.messages = r.blocked ? 0 : static_cast<std::uint32_t>(rng() % 4);
      if (r.blocked) r.termination = "blocked";
    }
    // Drawn only when asked for, so that the default store is the same as before.
    if (outbound_pct > 0 && static_cast<std::uint64_t>(pct(rng)) < outbound_pct) {
      const std::uint64_t u = zipf(rng, users);
      r.outbound = true;
      r.listener = "out";
      r.client_ip = "10.0.0.25";
      // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) about "u" + to_string(u).
      r.user = std::string("u").append(std::to_string(u)).append("@").append(domain_names[u % domains]);
      r.domain = domain_names[u % domains];
      r.auth_user.clear();
      r.auth_result.clear();
      r.upstream = ip_text(zipf(rng, ips));
      r.upstream += ":25";
    }
    r.recipients = r.messages + static_cast<std::uint32_t>(rng() % 2);
    r.commands = 3 + 4 * r.messages;
    if (pct(rng) < 5) r.bad_commands = 1 + static_cast<std::uint32_t>(rng() % 5);
    if (pct(rng) < 5) r.permanent_failures = 1;
    if (r.termination == "quit" && pct(rng) < 10) r.termination = "client_abort";
    r.bytes_in = 60 + r.messages * (2'000 + rng() % 60'000);
    r.bytes_out = 300 + rng() % 300;
    store.submit(std::move(r));
    if (i + 1 - store.written() > kAhead) {
      while (i + 1 - store.written() > kAhead / 2) std::this_thread::sleep_for(milliseconds(1));
    }
    if (i + 1 - last_report >= 1'000'000) {
      last_report = i + 1;
      const double s = duration<double>(steady_clock::now() - t0).count();
      const double w = (cpu_seconds() - cpu0) - (cpu_seconds(RUSAGE_THREAD) - gen0);
      std::fprintf(stderr, "%llu sessions, %.0f/s wall, writer %.1f us/session\n", static_cast<unsigned long long>(i + 1),
                   static_cast<double>(i + 1) / s, w * 1e6 / static_cast<double>(store.written()));
    }
  }
  store.flush();
  const double secs = duration<double>(steady_clock::now() - t0).count();
  // The writer's CPU is the process's minus this (generating) thread's: what one core
  // spends per session, whatever else the machine is doing.
  const double writer_cpu = (cpu_seconds() - cpu0) - (cpu_seconds(RUSAGE_THREAD) - gen0);
  const auto n = static_cast<double>(store.written());
  std::printf("wrote %llu sessions (%llu dropped) in %.1f s: %.0f sessions/s wall; writer thread CPU %.1f s = %.1f us/session "
              "(%.0f sessions per CPU second)\n",
              static_cast<unsigned long long>(store.written()), static_cast<unsigned long long>(store.dropped()), secs, n / secs,
              writer_cpu, writer_cpu * 1e6 / n, n / writer_cpu);
  return store.dropped() == 0 ? 0 : 1;
}
