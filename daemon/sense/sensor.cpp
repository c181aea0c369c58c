#include "daemon/sense/sensor.hpp"

#include "config/config_loader.hpp"
#include "daemon/sense/session_facts.hpp"

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

void Sensor::remote_event(const detect::DetectorEvent& e) {
  if (!claim_) return detectors_.replay(e, steady_seconds());
  detect::Findings crossings;
  detectors_.replay(e, steady_seconds(), &crossings);
  for (auto& f : crossings) {
    // The detectors that count clients per user name no single IP to flag.
    if (f.id == detect::DetectorId::distributed_bruteforce || f.id == detect::DetectorId::user_many_ips) continue;
    const std::string key = key_text(e.ip, addresses_);
    if (flags_.alerted(key, f.type)) continue;  // the fleet's flag is here already
    const auto ttl = std::chrono::milliseconds(ttl_ms_.load(std::memory_order_relaxed));
    FlagEntry proposed;
    proposed.ip = key;
    proposed.type = std::string(f.type);
    proposed.sensor = name_;
    proposed.since = FlagClock::now();
    proposed.expires = proposed.since + ttl;
    proposed.block = f.action == config::Action::block;
    proposed.count = f.count;
    Alert a;
    a.sensor = name_;
    a.type = std::string(f.type);
    a.severity = std::string(f.severity);
    a.ip = key;
    a.listener = "fleet";
    a.count = f.count;
    a.threshold = f.threshold;
    a.window_s = f.window_s;
    a.action = config::to_string(f.action);
    a.detail = std::to_string(f.count) + " counted across the fleet; the event that reached the threshold came from another sensor";
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

std::string Sensor::add_manual(const std::string& key, std::chrono::milliseconds ttl, bool block, const std::string& reason) {
  FlagEntry e;
  auto err = flags_.add_manual(key, ttl, block, reason, &e);
  if (!err.empty()) return err;
  auto a = manual_alert(name_, e.ip, block ? "block" : "flag",
                        "added for " + std::to_string(ttl.count() / 1000) + "s" + (reason.empty() ? "" : ": " + reason));
  a.window_s = ttl.count() / 1000;  // manual is no detector: smtp_sensor_alerts_total does not count it
  outputs_.alert(a);
  return {};
}

std::string Sensor::remove_manual(const std::string& key) {
  const auto k = FlagKey::parse(key);
  if (!k) return "not an IP address or CIDR network: " + key;
  if (!flags_.remove(key)) return "not flagged: " + k->text();
  outputs_.alert(manual_alert(name_, k->text(), "remove", "removed"));
  return {};
}

}  // namespace smtp::daemon
