#include "detect/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

namespace smtp::detect {
namespace {

constexpr double kBaselineWeight = 0.3;  // weight of the newest window in the moving baseline

// The distinct sets need no more room than the threshold they are compared with.
std::uint32_t cap_for(std::uint64_t threshold) { return static_cast<std::uint32_t>(std::min<std::uint64_t>(threshold, 1024)); }

// Generation numbers are never reused, across all engines, so that a cache entry cannot
// be mistaken for that of another engine built later at the same address. 0 is "none".
std::atomic<std::uint64_t> g_next_generation{1};

// Each thread's copy of the config it last read, of whichever engine it last asked.
struct CachedConfig {
  std::uint64_t generation = 0;
  std::shared_ptr<const config::Detectors> config;
};
thread_local CachedConfig t_cache;

// True while Engine::replay feeds another sensor's event: the windows count it, but no
// finding is made and no quiet period starts, so that the next local event that finds the
// threshold reached raises the alert here (SPEC 9: only a local event raises).
thread_local bool t_replaying = false;
// Where a replayed event that reaches a threshold is noted (no quiet period starts), so
// the sensor can ask the fleet whether it is the one to raise it (SPEC 9).
thread_local Findings* t_crossings = nullptr;

template <class Describe>
void fire(DetectorId id, const config::Detector& d, std::uint64_t count, std::uint32_t& quiet_until, std::uint32_t now_s,
          Findings& out, Describe&& describe) {
  if (t_replaying) {
    if (t_crossings != nullptr && count >= d.threshold && now_s >= quiet_until) {
      // Described, so that a per-user crossing names its account and clients.
      t_crossings->push_back(bare_finding(id, d, count));
      describe(t_crossings->back());
    }
    return;
  }
  alert_or_repeat(id, d, count, quiet_until, now_s, out, std::forward<Describe>(describe));
}

}  // namespace

std::size_t IpHash::operator()(const IpBytes& ip) const noexcept {
  std::uint64_t a, b;
  std::memcpy(&a, ip.data(), 8);
  std::memcpy(&b, ip.data() + 8, 8);
  const std::uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full);
  return static_cast<std::size_t>(h ^ (h >> 29));
}

bool IpEqual::operator()(const IpBytes& x, const IpBytes& y) const noexcept {
  std::uint64_t a[2], b[2];
  std::memcpy(a, x.data(), 16);
  std::memcpy(b, y.data(), 16);
  return a[0] == b[0] && a[1] == b[1];
}

std::string_view to_string(AuthOutcome o) {
  switch (o) {
    case AuthOutcome::success: return "success";
    case AuthOutcome::failure: return "failure";
    case AuthOutcome::unadvertised: return "unadvertised";
    case AuthOutcome::aborted: return "aborted";
  }
  return "failure";
}

Engine::Engine(const config::Detectors& cfg)
    : config_(std::make_shared<const config::Detectors>(cfg)),
      generation_(g_next_generation.fetch_add(1, std::memory_order_relaxed)),
      ips_(cfg.max_tracked),
      users_(cfg.max_tracked) {}

void Engine::reconfigure(const config::Detectors& cfg) {
  {
    std::lock_guard lock(config_mutex_);
    config_ = std::make_shared<const config::Detectors>(cfg);
    generation_.store(g_next_generation.fetch_add(1, std::memory_order_relaxed), std::memory_order_release);
  }
  ips_.set_cap(cfg.max_tracked);
  users_.set_cap(cfg.max_tracked);
}

const config::Detectors& Engine::config() const {
  // The hot path: one load, no lock, no reference count touched. The copy itself was
  // taken under the mutex, so the load only has to tell whether it is still current.
  if (generation_.load(std::memory_order_acquire) != t_cache.generation) {
    std::lock_guard lock(config_mutex_);
    t_cache.config = config_;
    t_cache.generation = generation_.load(std::memory_order_relaxed);
  }
  return *t_cache.config;
}

void Engine::connection(const IpBytes& ip, std::uint32_t now_s, Findings& out) {
  const auto& d = config().connection_ratio;
  if (!d.enabled) return;
  const auto w = window_seconds(d);
  ips_.with(ip, [&](IpState& s) {
    s.connections.add(now_s, w);
    const auto conns = s.connections.count(now_s, w);
    const auto msgs = s.messages.count(now_s, w);
    // Connections per delivered message, as Xeams graphs it; no message at all counts
    // as one so that the ratio stays finite.
    const double ratio = static_cast<double>(conns) / std::max<std::uint32_t>(1, msgs);
    if (ratio <= d.ratio) return;
    fire(DetectorId::connection_ratio, d, conns, s.quiet(DetectorId::connection_ratio), now_s, out,
                    [&](Finding& f) {
                      f.detail = std::to_string(conns) + " connections but " + std::to_string(msgs) +
                                 " messages delivered: " + std::to_string(static_cast<std::uint64_t>(ratio)) +
                                 " connections per message";
                    });
  });
}

void Engine::message(const IpBytes& ip, std::string_view user, std::uint32_t now_s, Findings& out) {
  const auto& cfg = config();
  if (cfg.connection_ratio.enabled) {
    const auto w = window_seconds(cfg.connection_ratio);
    ips_.with(ip, [&](IpState& s) { s.messages.add(now_s, w); });
  }
  const auto& d = cfg.compromised_account;
  if (!d.enabled || user.empty()) return;
  const auto w = window_seconds(d);
  users_.with(user, [&](UserState& u) {
    // Fixed windows: when one ends, its count joins the baseline; empty windows in
    // between pull the baseline down.
    if (u.windows_seen == 0 && u.current == 0) u.window_start = now_s;
    if (now_s - u.window_start >= w) {
      const std::uint32_t passed = (now_s - u.window_start) / w;
      u.baseline = u.windows_seen == 0 ? u.current : u.baseline * (1 - kBaselineWeight) + kBaselineWeight * u.current;
      if (passed > 1) u.baseline *= std::pow(1 - kBaselineWeight, passed - 1);
      u.windows_seen += passed;
      u.window_start += passed * w;
      u.current = 0;
    }
    ++u.current;
    // Only once a baseline exists: a new account's first busy hour is not a jump.
    if (u.windows_seen == 0 || u.current <= d.ratio * std::max(1.0, u.baseline)) return;
    fire(DetectorId::compromised_account, d, u.current, u.quiet(DetectorId::compromised_account), now_s, out,
                    [&](Finding& f) {
                      f.detail = std::to_string(u.current) + " messages this window against a baseline of " +
                                 std::to_string(static_cast<std::uint64_t>(std::lround(u.baseline))) + " per window";
                      f.users.emplace_back(user.substr(0, UserSample::kMaxName));
                    });
  });
}

void Engine::auth(const IpBytes& ip, std::string_view user, AuthOutcome outcome, std::string_view detail,
                  std::uint32_t now_s, Findings& out) {
  const auto& cfg = config();
  if (outcome == AuthOutcome::unadvertised) {
    const auto& d = cfg.auth_unadvertised;
    if (!d.enabled) return;
    const auto w = window_seconds(d);
    ips_.with(ip, [&](IpState& s) {
      s.unadvertised.add(now_s, w);
      s.recent_users.add(user);
      fire(DetectorId::auth_unadvertised, d, s.unadvertised.count(now_s, w),
                      s.quiet(DetectorId::auth_unadvertised), now_s, out, [&](Finding& f) {
                        f.detail = std::string(detail);
                        f.users = s.recent_users.list();
                      });
    });
    return;
  }
  if (outcome == AuthOutcome::success) {
    if (const auto& d = cfg.auth_success_after_failures; d.enabled) {
      const auto w = window_seconds(d);
      ips_.with(ip, [&](IpState& s) {
        const auto n = s.login_failures.count(now_s, w);
        fire(DetectorId::auth_success_after_failures, d, n, s.quiet(DetectorId::auth_success_after_failures),
                        now_s, out, [&](Finding& f) {
                          f.detail = "login as '" + std::string(user.substr(0, UserSample::kMaxName)) +
                                     "' succeeded after " + std::to_string(n) + " failed logins";
                          if (!user.empty()) f.users.emplace_back(user.substr(0, UserSample::kMaxName));
                        });
      });
    }
    if (const auto& d = cfg.user_many_ips; d.enabled && !user.empty()) {
      users_.with(user, [&](UserState& u) {
        const auto n = u.login_ips.add(ip, now_s, window_seconds(d), cap_for(d.threshold));
        fire(DetectorId::user_many_ips, d, n, u.quiet(DetectorId::user_many_ips), now_s, out,
                        [&](Finding& f) {
                          f.detail = "logged in from " + std::to_string(n) + " distinct clients";
                          f.users.emplace_back(user.substr(0, UserSample::kMaxName));
                          f.ips = u.login_ips.list();
                        });
      });
    }
    return;
  }
  if (outcome != AuthOutcome::failure) return;
  // Each key is hashed once: the same hash finds it in its table and stands for it in the
  // other key's distinct set.
  const std::uint64_t ip_hash = IpHash{}(ip);
  const std::uint64_t user_hash = user.empty() ? 0 : StringHash{}(user);
  ips_.with(ip, ip_hash, [&](IpState& s) {
    s.recent_users.add(user);
    if (const auto& d = cfg.auth_success_after_failures; d.enabled) s.login_failures.add(now_s, window_seconds(d));
    if (const auto& d = cfg.auth_bruteforce; d.enabled) {
      const auto w = window_seconds(d);
      s.auth_failures.add(now_s, w);
      const auto n = s.auth_failures.count(now_s, w);
      fire(DetectorId::auth_bruteforce, d, n, s.quiet(DetectorId::auth_bruteforce), now_s, out,
                      [&](Finding& f) {
                        f.detail = std::to_string(n) + " AUTH failures";
                        f.users = s.recent_users.list();
                      });
    }
    if (const auto& d = cfg.password_spray; d.enabled && !user.empty()) {
      const auto n = s.failed_users.add(user_hash, now_s, window_seconds(d), cap_for(d.threshold));
      fire(DetectorId::password_spray, d, n, s.quiet(DetectorId::password_spray), now_s, out,
                      [&](Finding& f) {
                        f.detail = std::to_string(n) + " distinct usernames failed";
                        f.users = s.recent_users.list();
                      });
    }
  });
  if (const auto& d = cfg.distributed_bruteforce; d.enabled && !user.empty()) {
    users_.with(user, user_hash, [&](UserState& u) {
      const auto n = u.failing_ips.add(ip, now_s, window_seconds(d), cap_for(d.threshold));
      fire(DetectorId::distributed_bruteforce, d, n, u.quiet(DetectorId::distributed_bruteforce), now_s,
                      out, [&](Finding& f) {
                        f.detail = "username failed from " + std::to_string(n) + " distinct IPs";
                        f.users.emplace_back(user.substr(0, UserSample::kMaxName));
                        f.ips = u.failing_ips.list();
                      });
    });
  }
}

void Engine::bad_command(const IpBytes& ip, std::uint32_t now_s, Findings& out) {
  const auto& d = config().bad_commands;
  if (!d.enabled) return;
  const auto w = window_seconds(d);
  ips_.with(ip, [&](IpState& s) {
    s.bad_commands.add(now_s, w);
    const auto n = s.bad_commands.count(now_s, w);
    fire(DetectorId::bad_commands, d, n, s.quiet(DetectorId::bad_commands), now_s, out,
                    [&](Finding& f) { f.detail = std::to_string(n) + " bad commands"; });
  });
}

void Engine::probe(DetectorId id, const IpBytes& ip, std::uint32_t now_s, Findings& out) {
  std::size_t slot;
  switch (id) {
    case DetectorId::recipient_enumeration: slot = 0; break;
    case DetectorId::relay_probe: slot = 1; break;
    case DetectorId::vrfy_expn: slot = 2; break;
    default: return;
  }
  const auto& d = config()[id];
  if (!d.enabled) return;
  const auto w = window_seconds(d);
  ips_.with(ip, [&](IpState& s) {
    if (!s.probes) s.probes = std::make_unique<IpState::Probes>();
    auto& window = s.probes->windows[slot];
    window.add(now_s, w);
    const auto n = window.count(now_s, w);
    fire(id, d, n, s.quiet(id), now_s, out, [&](Finding& f) {
      switch (id) {
        case DetectorId::recipient_enumeration: f.detail = std::to_string(n) + " recipients refused as unknown"; break;
        case DetectorId::relay_probe: f.detail = std::to_string(n) + " recipients refused as relaying"; break;
        default: f.detail = std::to_string(n) + " VRFY or EXPN commands"; break;
      }
    });
  });
}

void Engine::rejection(const IpBytes& ip, std::string_view sender, std::uint32_t now_s, Findings& out) {
  const auto& d = config().outbound_rejections;
  if (!d.enabled || sender.empty()) return;
  const auto w = window_seconds(d);
  users_.with(sender, [&](UserState& u) {
    u.rejections.add(now_s, w);
    const auto n = u.rejections.count(now_s, w);
    fire(DetectorId::outbound_rejections, d, n, u.quiet(DetectorId::outbound_rejections), now_s, out,
                    [&](Finding& f) {
                      f.detail = std::to_string(n) + " messages of this sender refused by remote servers";
                      f.users.emplace_back(sender.substr(0, UserSample::kMaxName));
                      f.ips.push_back(ip);  // the local client that sent them
                    });
  });
}

void Engine::replay(const DetectorEvent& e, std::uint32_t now_s, Findings* crossings) {
  Findings none;
  t_replaying = true;
  t_crossings = crossings;
  switch (e.kind) {
    case EventKind::connection: connection(e.ip, now_s, none); break;
    case EventKind::message:
    case EventKind::outbound_message: message(e.ip, e.user, now_s, none); break;
    case EventKind::auth_success: auth(e.ip, e.user, AuthOutcome::success, {}, now_s, none); break;
    case EventKind::auth_failure: auth(e.ip, e.user, AuthOutcome::failure, {}, now_s, none); break;
    case EventKind::auth_unadvertised: auth(e.ip, e.user, AuthOutcome::unadvertised, {}, now_s, none); break;
    case EventKind::bad_command: bad_command(e.ip, now_s, none); break;
    case EventKind::recipient_unknown: probe(DetectorId::recipient_enumeration, e.ip, now_s, none); break;
    case EventKind::relay_refused: probe(DetectorId::relay_probe, e.ip, now_s, none); break;
    case EventKind::vrfy_expn: probe(DetectorId::vrfy_expn, e.ip, now_s, none); break;
    case EventKind::rejection: rejection(e.ip, e.user, now_s, none); break;
  }
  t_replaying = false;
  t_crossings = nullptr;
}

std::optional<EventKind> event_kind(int stored) {
  if (stored < 1 || stored > kMaxEventKind) return std::nullopt;
  return static_cast<EventKind>(stored);
}

void Engine::anomaly(DetectorId id, std::string_view detail, Findings& out) {
  const auto counts = config::info(id).counts;
  if (counts != config::Counts::occurrence && counts != config::Counts::session) return;
  const auto& d = config()[id];
  if (!d.enabled) return;
  Finding f = bare_finding(id, d, 1);
  f.threshold = 1;
  f.described = true;
  f.detail = std::string(detail);
  out.push_back(std::move(f));
}

}  // namespace smtp::detect
