// Detector micro-benchmark: synthetic AUTH failures through detect::Engine on one thread.
// Not a test: it prints figures. Target: >= 1 million events/s on one core, and memory that
// stays bounded by detectors.max_tracked when every event comes from a new IP.
//
//   bench/detector_bench [events] [ips] [run]   defaults: 1,000,000 events from 100,000 IPs, both runs
//
// `run` (1, 2 or 3) runs only that case, for a profiler.
//
// Run 1: `events` AUTH failures from `ips` IPv4 addresses, usernames drawn from 5,000, the
// clock advancing one second every 1,000 events (so the windows slide), default thresholds
// (failures 5, distinct_users 5, distinct_ips 10) so that findings fire as in a real attack.
// Run 2: the same number of events, each from a distinct IP (a scan of the whole space), with
// max_tracked 100,000: RSS is sampled as it goes and must level off.
// Run 3: every windowed detector at the longest window (7d), `events` mixed events (AUTH
// failures and successes, refused recipients, relay denials, VRFY, connections, messages)
// from `ips` keys: the memory of 7-day windows for that many keys, and the rate with every
// detector fed.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "detect/engine.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using smtp::detect::AuthOutcome;
using smtp::detect::Engine;
using smtp::detect::Findings;
using smtp::detect::IpBytes;

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// IPv4-mapped IPv6 (::ffff:a.b.c.d), as the daemon keys them.
IpBytes ipv4(std::uint32_t v) {
  IpBytes ip{};
  ip[10] = 0xff;
  ip[11] = 0xff;
  ip[12] = static_cast<std::uint8_t>(v >> 24);
  ip[13] = static_cast<std::uint8_t>(v >> 16);
  ip[14] = static_cast<std::uint8_t>(v >> 8);
  ip[15] = static_cast<std::uint8_t>(v);
  return ip;
}

// xorshift64*: a cheap, reproducible stream of pseudo-random numbers.
struct Rng {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
};

// CPU time of this thread: on a shared machine it stays close to the unloaded wall time
// while the wall time stretches with whatever else runs.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Result {
  double seconds = 0;
  double cpu_seconds = 0;
  std::uint64_t findings = 0;
};

Result run(Engine& engine, std::uint64_t events, std::uint32_t ips, const std::vector<std::string>& users,
           std::vector<std::pair<std::uint64_t, long>>* rss_samples) {
  // Pre-compute the inputs so that the timing covers the engine only.
  Rng rng;
  Findings out;
  out.reserve(8);
  Result r;
  const std::uint32_t base = 0x0A000000;  // 10.0.0.0
  const std::uint64_t sample_every = events / 10;
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  for (std::uint64_t i = 0; i < events; ++i) {
    const std::uint64_t x = rng.next();
    const std::uint32_t ip_index = ips == 0 ? static_cast<std::uint32_t>(i) : static_cast<std::uint32_t>(x % ips);
    const std::string& user = users[(x >> 32) % users.size()];
    const auto now_s = static_cast<std::uint32_t>(1'000'000 + i / 1000);
    engine.auth(ipv4(base + ip_index), user, AuthOutcome::failure, {}, now_s, out);
    r.findings += out.size();
    out.clear();
    if (rss_samples && sample_every && (i + 1) % sample_every == 0) rss_samples->emplace_back(i + 1, rss_kib());
  }
  r.cpu_seconds = cpu_seconds() - cpu0;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

void print_speed(const Result& r, std::uint64_t events) {
  std::printf("  %.3f s, %.2f million events/s (CPU %.3f s, %.2f million events per CPU second), %llu findings\n",
              r.seconds, events / r.seconds / 1e6, r.cpu_seconds, events / r.cpu_seconds / 1e6,
              static_cast<unsigned long long>(r.findings));
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const auto ips = static_cast<std::uint32_t>(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100'000);
  const int only = argc > 3 ? std::atoi(argv[3]) : 0;
  std::vector<std::string> users;
  for (int i = 0; i < 5000; ++i) users.push_back("user" + std::to_string(i) + "@example.org");

  smtp::config::Detectors cfg;  // the shipped defaults; max_tracked 100,000
  std::printf("detector_bench: one thread, default thresholds, max_tracked %u\n", cfg.max_tracked);

  // Each run in its own child process, so that its RSS figures start from a clean heap.
  const auto in_child = [](auto&& body) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) std::_Exit(body());
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  };
  int rc = 0;
  if (only != 2) rc |= in_child([&] {
    const long before = rss_kib();
    Engine engine(cfg);
    const auto r = run(engine, events, ips, users, nullptr);
    const long after = rss_kib();
    std::printf("run 1: %llu AUTH failures from %u IPs, %zu usernames\n", static_cast<unsigned long long>(events), ips,
                users.size());
    print_speed(r, events);
    std::printf("  tracked: %zu IPs, %zu users\n", engine.tracked_ips(), engine.tracked_users());
    std::printf("  RSS before %ld KiB, after %ld KiB (+%ld KiB, %ld B per tracked IP)\n", before, after, after - before,
                (after - before) * 1024 / static_cast<long>(std::max<std::size_t>(1, engine.tracked_ips())));
    std::fflush(stdout);
    return 0;
  });

  if (only != 1) rc |= in_child([&] {
    const long before = rss_kib();
    Engine engine(cfg);
    std::vector<std::pair<std::uint64_t, long>> samples;
    samples.reserve(16);
    const auto r = run(engine, events, 0, users, &samples);
    const long after = rss_kib();
    std::printf("run 2: %llu AUTH failures, every one from a distinct IP\n", static_cast<unsigned long long>(events));
    print_speed(r, events);
    std::printf("  tracked: %zu IPs (cap %u), %zu users\n", engine.tracked_ips(), cfg.max_tracked, engine.tracked_users());
    std::printf("  RSS before %ld KiB, after %ld KiB (+%ld KiB)\n", before, after, after - before);
    std::printf("  RSS as distinct IPs grow:");
    for (const auto& [n, kib] : samples) std::printf(" %lluk:%ld", static_cast<unsigned long long>(n / 1000), kib);
    std::printf(" (KiB)\n");
    if (engine.tracked_ips() > cfg.max_tracked) {
      std::printf("FAIL: %zu IPs tracked, above max_tracked %u\n", engine.tracked_ips(), cfg.max_tracked);
      return 1;
    }
    std::fflush(stdout);
    return 0;
  });
  if (only == 0 || only == 3) rc |= in_child([&] {
    smtp::config::Detectors week = cfg;
    for (const auto& k : smtp::config::kDetectors)
      if (k.windowed) week[k.id].window = std::chrono::seconds(smtp::config::kMaxWindowSeconds);
    const long before = rss_kib();
    Engine engine(week);
    Rng rng;
    Findings out;
    out.reserve(8);
    const std::uint32_t keys = std::max<std::uint32_t>(1, ips);
    std::uint64_t findings = 0;
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < events; ++i) {
      const std::uint64_t x = rng.next();
      const IpBytes ip = ipv4(0x0A000000 + static_cast<std::uint32_t>(x % keys));
      const std::string& user = users[(x >> 32) % users.size()];
      // Over a week: the clock advances one second every 2 events (1 M events = 5.8 days).
      const auto now_s = static_cast<std::uint32_t>(1'000'000 + i / 2);
      switch ((x >> 48) % 16) {
        case 0: engine.auth(ip, user, AuthOutcome::success, {}, now_s, out); break;
        case 1: engine.probe(smtp::config::DetectorId::recipient_enumeration, ip, now_s, out); break;
        case 2: engine.probe(smtp::config::DetectorId::relay_probe, ip, now_s, out); break;
        case 3: engine.probe(smtp::config::DetectorId::vrfy_expn, ip, now_s, out); break;
        case 4: engine.connection(ip, now_s, out); break;
        case 5: engine.message(ip, user, now_s, out); break;
        case 6: engine.bad_command(ip, now_s, out); break;
        default: engine.auth(ip, user, AuthOutcome::failure, {}, now_s, out); break;
      }
      findings += out.size();
      out.clear();
    }
    const double cpu = cpu_seconds() - cpu0;
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const long after = rss_kib();
    std::printf("run 3: %llu mixed events from %u keys, every window 7d\n", static_cast<unsigned long long>(events), keys);
    print_speed({wall, cpu, findings}, events);
    std::printf("  tracked: %zu IPs, %zu users\n", engine.tracked_ips(), engine.tracked_users());
    std::printf("  RSS before %ld KiB, after %ld KiB (+%ld KiB, %ld B per tracked IP, users included)\n", before, after,
                after - before,
                (after - before) * 1024 / static_cast<long>(std::max<std::size_t>(1, engine.tracked_ips())));
    std::fflush(stdout);
    return 0;
  });
  return rc;
}
