#include "detect/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace smtp::detect {
namespace {

constexpr double kBaselineWeight = 0.3;  // weight of the newest window in the moving baseline

std::uint32_t seconds(config::Duration d) {
  return static_cast<std::uint32_t>(std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count()));
}

// The distinct sets need no more room than the threshold they are compared with.
std::uint32_t cap_for(std::uint64_t threshold) { return static_cast<std::uint32_t>(std::min<std::uint64_t>(threshold, 1024)); }

// After a detector fires for a key it stays quiet for one window: the alert is out and
// the flag only counts repeats, so a repeat carries no detail and no users, and costs no
// allocation to build.
bool loud(std::uint32_t& quiet_until, std::uint32_t now_s, std::uint32_t window_s) {
  if (now_s < quiet_until) return false;
  quiet_until = now_s + window_s;
  return true;
}

Finding repeat(std::string_view type, const config::Detector& d, std::uint64_t count) {
  Finding f;
  f.type = type;
  f.count = count;
  f.threshold = d.threshold;
  f.window_s = std::chrono::duration_cast<std::chrono::seconds>(d.window).count();
  f.action = d.action;
  return f;
}

Finding finding(std::string_view type, const config::Detector& d, std::uint64_t count, std::string detail) {
  Finding f = repeat(type, d, count);
  f.detail = std::move(detail);
  return f;
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
    : config_(std::make_shared<const config::Detectors>(cfg)), ips_(cfg.max_tracked), users_(cfg.max_tracked) {}

void Engine::reconfigure(const config::Detectors& cfg) {
  {
    std::lock_guard lock(config_mutex_);
    config_ = std::make_shared<const config::Detectors>(cfg);
  }
  ips_.set_cap(cfg.max_tracked);
  users_.set_cap(cfg.max_tracked);
}

std::shared_ptr<const config::Detectors> Engine::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

void Engine::connection(const IpBytes& ip, std::uint32_t now_s, Findings& out) {
  const auto cfg = config();
  const auto& d = cfg->connection_ratio;
  if (!d.enabled) return;
  const auto w = seconds(d.window);
  ips_.with(ip, [&](IpState& s) {
    s.connections.add(now_s, w);
    const auto conns = s.connections.count(now_s, w);
    const auto msgs = s.messages.count(now_s, w);
    // Connections per delivered message, as Xeams graphs it; no message at all counts
    // as one so that the ratio stays finite.
    const double ratio = static_cast<double>(conns) / std::max<std::uint32_t>(1, msgs);
    if (conns < d.threshold || ratio <= d.ratio) return;
    if (!loud(s.quiet_until[q_ratio], now_s, w)) return out.push_back(repeat("connection_ratio", d, conns));
    out.push_back(finding("connection_ratio", d, conns,
                            std::to_string(conns) + " connections but " + std::to_string(msgs) +
                                " messages delivered: " + std::to_string(static_cast<std::uint64_t>(ratio)) +
                                " connections per message"));
  });
}

void Engine::message(const IpBytes& ip, std::string_view user, std::uint32_t now_s, Findings& out) {
  const auto cfg = config();
  if (cfg->connection_ratio.enabled) {
    const auto w = seconds(cfg->connection_ratio.window);
    ips_.with(ip, [&](IpState& s) { s.messages.add(now_s, w); });
  }
  const auto& d = cfg->compromised_account;
  if (!d.enabled || user.empty()) return;
  const auto w = seconds(d.window);
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
    if (u.windows_seen > 0 && u.current >= d.threshold && u.current > d.ratio * std::max(1.0, u.baseline)) {
      if (!loud(u.quiet_until[q_compromised], now_s, w)) return out.push_back(repeat("compromised_account", d, u.current));
      Finding f = finding("compromised_account", d, u.current,
                          std::to_string(u.current) + " messages this window against a baseline of " +
                              std::to_string(static_cast<std::uint64_t>(std::lround(u.baseline))) + " per window");
      f.users.emplace_back(user.substr(0, UserSample::kMaxName));
      out.push_back(std::move(f));
    }
  });
}

void Engine::auth(const IpBytes& ip, std::string_view user, AuthOutcome outcome, std::string_view detail,
                  std::uint32_t now_s, Findings& out) {
  const auto cfg = config();
  if (outcome == AuthOutcome::unadvertised) {
    const auto& d = cfg->auth_unadvertised;
    if (!d.enabled) return;
    const auto w = seconds(d.window);
    ips_.with(ip, [&](IpState& s) {
      s.unadvertised.add(now_s, w);
      s.recent_users.add(user);
      const auto n = s.unadvertised.count(now_s, w);
      if (n < d.threshold) return;
      if (!loud(s.quiet_until[q_unadvertised], now_s, w)) return out.push_back(repeat("auth_unadvertised", d, n));
      {
        Finding f = finding("auth_unadvertised", d, n, std::string(detail));
        f.users = s.recent_users.list();
        out.push_back(std::move(f));
      }
    });
    return;
  }
  if (outcome != AuthOutcome::failure) return;
  // Each key is hashed once: the same hash finds it in its table and stands for it in the
  // other key's distinct set.
  const std::uint64_t ip_hash = IpHash{}(ip);
  const std::uint64_t user_hash = user.empty() ? 0 : StringHash{}(user);
  ips_.with(ip, ip_hash, [&](IpState& s) {
    s.recent_users.add(user);
    if (const auto& d = cfg->auth_bruteforce; d.enabled) {
      const auto w = seconds(d.window);
      s.auth_failures.add(now_s, w);
      if (const auto n = s.auth_failures.count(now_s, w); n >= d.threshold && !loud(s.quiet_until[q_bruteforce], now_s, w)) {
        out.push_back(repeat("auth_bruteforce", d, n));
      } else if (n >= d.threshold) {
        Finding f = finding("auth_bruteforce", d, n, std::to_string(n) + " AUTH failures");
        f.users = s.recent_users.list();
        out.push_back(std::move(f));
      }
    }
    if (const auto& d = cfg->password_spray; d.enabled && !user.empty()) {
      const auto w = seconds(d.window);
      const auto n = s.failed_users.add(user_hash, now_s, w, cap_for(d.threshold));
      if (n >= d.threshold && !loud(s.quiet_until[q_spray], now_s, w)) {
        out.push_back(repeat("password_spray", d, n));
      } else if (n >= d.threshold) {
        Finding f = finding("password_spray", d, n, std::to_string(n) + " distinct usernames failed");
        f.users = s.recent_users.list();
        out.push_back(std::move(f));
      }
    }
  });
  if (const auto& d = cfg->distributed_bruteforce; d.enabled && !user.empty()) {
    users_.with(user, user_hash, [&](UserState& u) {
      const auto w = seconds(d.window);
      const auto n = u.failing_ips.add(ip_hash, now_s, w, cap_for(d.threshold));
      if (n >= d.threshold && !loud(u.quiet_until[q_distributed], now_s, w)) {
        out.push_back(repeat("distributed_bruteforce", d, n));
      } else if (n >= d.threshold) {
        Finding f = finding("distributed_bruteforce", d, n, "username failed from " + std::to_string(n) + " distinct IPs");
        f.users.emplace_back(user.substr(0, UserSample::kMaxName));
        out.push_back(std::move(f));
      }
    });
  }
}

void Engine::bad_command(const IpBytes& ip, std::uint32_t now_s, Findings& out) {
  const auto cfg = config();
  const auto& d = cfg->bad_commands;
  if (!d.enabled) return;
  const auto w = seconds(d.window);
  ips_.with(ip, [&](IpState& s) {
    s.bad_commands.add(now_s, w);
    const auto n = s.bad_commands.count(now_s, w);
    if (n < d.threshold) return;
    if (!loud(s.quiet_until[q_bad_commands], now_s, w)) return out.push_back(repeat("bad_commands", d, n));
    out.push_back(finding("bad_commands", d, n, std::to_string(n) + " bad commands"));
  });
}

void Engine::anomaly(std::string_view kind, std::string_view detail, Findings& out) {
  const auto cfg = config();
  const config::Detector* d = kind == "pregreet" ? &cfg->pregreet
                              : kind == "smuggling" ? &cfg->smuggling
                              : kind == "starttls_injection" ? &cfg->starttls_injection
                                                             : nullptr;
  if (!d || !d->enabled) return;
  Finding f = finding(kind, *d, 1, std::string(detail));
  f.threshold = 1;
  out.push_back(std::move(f));
}

}  // namespace smtp::detect
