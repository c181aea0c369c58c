#include "daemon/sense/sensor.hpp"

namespace smtp::daemon {

Sensor::Sensor(const config::Config& config, Metrics& metrics, Outputs& outputs)
    : metrics_(metrics), outputs_(outputs), detectors_(config.detectors) {
  metrics_.on_scrape([this] { metrics_.flagged_ips().Set(static_cast<double>(flags_.size())); });
}

bool Sensor::raise(const Alert& alert, std::chrono::milliseconds ttl, bool block) {
  const bool fresh = flags_.flag(alert.ip, alert.type, ttl, block);
  if (!fresh) return false;  // repeats within the TTL only bump the flag's count
  metrics_.alerts(alert.type).Increment();
  outputs_.alert(alert);
  return true;
}

}  // namespace smtp::daemon
