// What all sessions share: the detectors, the flag table, the metrics and the outputs.
#pragma once

#include "config/config.hpp"
#include "daemon/sense/flag_table.hpp"
#include "daemon/sense/outputs.hpp"
#include "daemon/sense/user_flags.hpp"
#include "daemon/sinks/alert_log.hpp"
#include "daemon/sinks/metrics.hpp"
#include "detect/engine.hpp"

#include <atomic>
#include <chrono>
#include <functional>

namespace smtp::daemon {

class Sensor {
 public:
  Sensor(const config::Config& config, Metrics& metrics, Outputs& outputs);

  // sensor.name or the host name; sensor.name changes only on restart.
  const std::string& name() const { return name_; }
  Metrics& metrics() { return metrics_; }
  Outputs& outputs() { return outputs_; }
  FlagTable& flags() { return flags_; }
  UserFlags& user_flags() { return user_flags_; }
  // /flagged: the flagged addresses and networks, then the flagged users, one page of
  // them as a JSON array; total gets how many there are of both.
  std::string flagged_json(std::size_t offset, std::size_t limit, std::size_t& total);
  detect::Engine& detectors() { return detectors_; }
  // SIGHUP: thresholds and actions change, the windows are kept.
  void reconfigure(const config::Config& config) {
    ttl_ms_.store(config.flag.ttl.count(), std::memory_order_relaxed);
    detectors_.reconfigure(config.detectors);
    flags_.set_max_entries(config.flag.max_entries);
    user_flags_.set_max_entries(config.flag.max_entries);
  }

  // Logs the alert unless the same (type, ip) was alerted within the flag TTL; flags
  // the IP either way. Returns whether a line was written.
  bool raise(const Alert& alert, std::chrono::milliseconds ttl, bool block);

  // The control socket's changes (SPEC 11): each is written to the alert log as a
  // `manual` alert. Return an error text, or "" on success.
  std::string add_manual(const std::string& key, std::chrono::milliseconds ttl, bool block, const std::string& reason);
  std::string remove_manual(const std::string& key);

  // Another sensor's detector event (SPEC 10, shared counts): counted in the windows now,
  // raising nothing at once (SPEC 9). When it reaches an IP-keyed threshold that no flag
  // here answers yet, the proposed flag goes to `claim` (the fleet's arbiter), which calls
  // back `won` if this sensor is the one to raise it; without a claim hook nothing more.
  void remote_event(const detect::DetectorEvent& e);
  using Claim = std::function<void(const FlagEntry& proposed, std::function<void()> won)>;
  void on_remote_crossing(Claim claim) { claim_ = std::move(claim); }
  // The clock the detectors' windows run on: whole seconds of steady_clock.
  static std::uint32_t steady_seconds();

 private:
  std::string name_;
  Metrics& metrics_;
  Outputs& outputs_;
  FlagTable flags_;
  UserFlags user_flags_;
  detect::Engine detectors_;
  config::Addresses addresses_;  // the prefix grouping (changes only on restart)
  std::atomic<std::int64_t> ttl_ms_;
  Claim claim_;
};

}  // namespace smtp::daemon
