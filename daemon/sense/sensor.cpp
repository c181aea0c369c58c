#include "daemon/sense/sensor.hpp"

namespace smtp::daemon {

Sensor::Sensor(const config::Config& config, Metrics& metrics, Outputs& outputs)
    : name_(sensor_name(config.sensor)), metrics_(metrics), outputs_(outputs), flags_(config.flag.max_entries), detectors_(config.detectors) {
  flags_.set_sensor(name_);
  flags_.on_evict([this] { metrics_.flags_evicted().Increment(); });
  metrics_.on_scrape([this] { metrics_.flagged_ips().Set(static_cast<double>(flags_.size())); });
}

std::uint32_t Sensor::steady_seconds() {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

bool Sensor::raise(const Alert& alert, std::chrono::milliseconds ttl, bool block) {
  const bool fresh = flags_.flag(alert.ip, alert.type, ttl, block);
  if (!fresh) return false;  // repeats within the TTL only bump the flag's count
  metrics_.alerts(alert.type).Increment();
  outputs_.alert(alert);
  return true;
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
