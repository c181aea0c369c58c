#include "daemon/sense/sensor.hpp"

#include "config/config_loader.hpp"
#include "daemon/sense/session_facts.hpp"

#include <utility>

namespace smtp::daemon {

Sensor::Sensor(const config::Config& config, Metrics& metrics, Outputs& outputs)
    : name_(sensor_name(config.sensor)), metrics_(metrics), outputs_(outputs), flags_(config.flag.max_entries),
      user_flags_(config.flag.max_entries), detectors_(config.detectors),
      addresses_(config.addresses), ttl_ms_(config.flag.ttl.count()) {
  flags_.set_sensor(name_);
  flags_.on_evict([this] { metrics_.flags_evicted().Increment(); });
  metrics_.on_scrape([this] { metrics_.flagged_ips().Set(static_cast<double>(flags_.size())); });
}

std::uint32_t Sensor::steady_seconds() {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

bool alerted_per_user(detect::DetectorId id, bool outbound) {
  return id == detect::DetectorId::distributed_bruteforce || id == detect::DetectorId::user_many_ips ||
         id == detect::DetectorId::outbound_rejections || (outbound && id == detect::DetectorId::compromised_account);
}

namespace {
constexpr const char* kFleetDetail =
    " counted across the fleet; the event that reached the threshold came from another sensor";
}  // namespace

FlagEntry Sensor::fleet_proposal(std::string key, const detect::Finding& f, std::chrono::milliseconds ttl) const {
  FlagEntry proposed;
  proposed.ip = std::move(key);
  proposed.type = std::string(f.type);
  proposed.sensor = name_;
  proposed.since = FlagClock::now();
  proposed.expires = proposed.since + ttl;
  proposed.count = f.count;
  return proposed;
}

Alert Sensor::fleet_alert(const detect::Finding& f, std::string ip, std::string detail) const {
  Alert a;
  a.sensor = name_;
  a.type = std::string(f.type);
  a.severity = std::string(f.severity);
  a.ip = std::move(ip);
  a.listener = "fleet";
  a.count = f.count;
  a.threshold = f.threshold;
  a.window_s = f.window_s;
  a.action = config::to_string(f.action);
  a.detail = std::move(detail) + kFleetDetail;
  return a;
}

// A per-user threshold another sensor's event reached: the fleet table's row for
// (type, account) decides who writes the one line.
void Sensor::claim_for_user(detect::Finding& f, const detect::DetectorEvent& e) {
  if (f.users.empty()) return;
  const std::string& user = f.users.front();
  if (user_flags_.alerted(f.type, user)) return;  // the fleet's alert is here already
  const auto ttl = std::chrono::milliseconds(ttl_ms_.load(std::memory_order_relaxed));
  const FlagEntry proposed = fleet_proposal(user_alert_key(f.type, user), f, ttl);
  Alert a = fleet_alert(f, key_text(e.ip, addresses_), f.detail + ";");
  a.users = f.users;
  std::vector<std::string> ips;
  for (const auto& k : f.ips) ips.push_back(key_text(k, addresses_));
  const bool flag_ips = f.id == detect::DetectorId::distributed_bruteforce;
  const bool block = f.action == config::Action::block;
  claim_(proposed, [this, a = std::move(a), ips = std::move(ips), flag_ips, ttl, block]() mutable {
    a.ts = std::chrono::system_clock::now();
    raise_for_user(std::move(a), std::move(ips), flag_ips, ttl, block, false);  // the claim is the row
  });
}

bool Sensor::raise_for_user(Alert a, std::vector<std::string> ips, bool flag_ips, std::chrono::milliseconds ttl,
                            bool block, bool publish) {
  const bool shared = share_user_alerts_.load(std::memory_order_relaxed);
  if (shared && !a.users.empty() && user_flags_.alerted(a.type, a.users.front())) {
    // Another sensor wrote the line: this one's client joins the flagged ones.
    if (flag_ips && !a.ip.empty()) flags_.flag(a.ip, a.type, ttl, block);
    return false;
  }
  if (flag_ips)
    for (const auto& ip : ips) flags_.flag(ip, a.type, ttl, block);
  a.ips_more = ips.size() > kAlertIpsListed ? ips.size() - kAlertIpsListed : 0;
  if (a.ips_more) ips.resize(kAlertIpsListed);
  a.ips = std::move(ips);
  if (!flag_ips) {
    // The flag is on the account: /flagged shows it as {"user": ...}.
    a.action = "flag";
    for (const auto& user : a.users) user_flags_.flag(user, a.type, ttl, name_);
  }
  const auto since = FlagClock::now();
  for (const auto& user : a.users) {
    user_flags_.mark_alerted(a.type, user, since + ttl);
    if (!shared || !publish) continue;
    FlagEntry row;
    row.ip = user_alert_key(a.type, user);
    row.type = a.type;
    row.sensor = name_;
    row.since = since;
    row.expires = since + ttl;
    row.count = a.count;
    std::lock_guard lock(user_alerts_mutex_);
    if (user_alerts_.size() < kMaxPendingUserAlerts) user_alerts_.push_back(std::move(row));
  }
  metrics_.alerts(a.type).Increment();
  outputs_.alert(a);
  return true;
}

std::vector<FlagEntry> Sensor::take_user_alerts() {
  std::lock_guard lock(user_alerts_mutex_);
  return std::exchange(user_alerts_, {});
}

void Sensor::apply_remote_user_alert(const FlagEntry& row) {
  const auto parsed = parse_user_alert_key(row.ip);
  if (!parsed) return;
  const auto& [type, user] = *parsed;
  user_flags_.mark_alerted(type, user, row.expires);
  // distributed_bruteforce flags the clients (shared as IP flags), not the account.
  if (type != config::to_string(detect::DetectorId::distributed_bruteforce))
    user_flags_.apply_remote(UserFlag{user, type, row.since, row.expires, row.count, row.sensor});
}

void Sensor::remote_event(const detect::DetectorEvent& e) {
  if (!claim_) return detectors_.replay(e, steady_seconds());
  detect::Findings crossings;
  detectors_.replay(e, steady_seconds(), &crossings);
  for (auto& f : crossings) {
    if (alerted_per_user(f.id, e.kind == detect::EventKind::outbound_message)) {
      claim_for_user(f, e);
      continue;
    }
    const std::string key = key_text(e.ip, addresses_);
    if (flags_.alerted(key, f.type)) continue;  // the fleet's flag is here already
    const auto ttl = std::chrono::milliseconds(ttl_ms_.load(std::memory_order_relaxed));
    FlagEntry proposed = fleet_proposal(key, f, ttl);
    proposed.block = f.action == config::Action::block;
    Alert a = fleet_alert(f, key, std::to_string(f.count));
    claim_(proposed, [this, a = std::move(a), ttl, block = proposed.block]() mutable {
      a.ts = std::chrono::system_clock::now();
      raise(a, ttl, block);
    });
  }
}

bool Sensor::raise(const Alert& alert, std::chrono::milliseconds ttl, bool block) {
  const bool fresh = flags_.flag(alert.ip, alert.type, ttl, block);
  if (!fresh) return false;  // repeats within the TTL only bump the flag's count
  metrics_.alerts(alert.type).Increment();
  outputs_.alert(alert);
  return true;
}

std::string Sensor::flagged_json(std::size_t offset, std::size_t limit, std::size_t& total) {
  std::size_t ip_total = 0;
  const auto ips = flags_.page(offset, limit, &ip_total);
  total = ip_total + user_flags_.size();
  std::string out = "[";
  FlagTable::append_json(out, ips);
  if (ips.size() < limit)
    UserFlags::append_json(out, user_flags_.page(offset > ip_total ? offset - ip_total : 0, limit - ips.size()));
  return out + "]\n";
}

namespace {
Alert manual_alert(const std::string& sensor, const std::string& ip, const std::string& action, std::string detail) {
  Alert a;
  a.sensor = sensor;
  a.ts = std::chrono::system_clock::now();
  a.type = "manual";
  a.severity = "info";
  a.ip = ip;
  a.listener = "control";
  a.action = action;
  a.detail = std::move(detail);
  return a;
}
}  // namespace

std::string Sensor::add_manual(const std::string& key, std::chrono::milliseconds ttl, bool block, const std::string& reason,
                               FlagTable::ManualAdd* out) {
  FlagTable::ManualAdd added;
  auto err = flags_.add_manual(key, ttl, block, reason, &added);
  if (!err.empty()) return err;
  const FlagEntry& e = added.added;
  auto a = manual_alert(name_, e.ip, block ? "block" : "flag",
                        "added for " + std::to_string(ttl.count() / 1000) + "s" + (reason.empty() ? "" : ": " + reason));
  a.window_s = ttl.count() / 1000;  // manual is no detector: smtp_sensor_alerts_total does not count it
  outputs_.alert(a);
  if (out) *out = std::move(added);
  return {};
}

std::string Sensor::remove_manual(const std::string& key) {
  const auto k = FlagKey::parse(key);
  if (!k) return not_a_flag_key(key);
  if (!flags_.remove(key)) return "not flagged: " + k->text();
  outputs_.alert(manual_alert(name_, k->text(), "remove", "removed"));
  return {};
}

}  // namespace smtp::daemon
