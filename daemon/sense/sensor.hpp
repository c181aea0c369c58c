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
#include <mutex>
#include <vector>

namespace smtp::daemon {

// The detectors that count clients per user and alert once per account
// (Sensor::raise_for_user), locally and for the fleet; compromised_account joins them
// only on an outbound listener, where the client is the local MTA (SPEC 14).
bool alerted_per_user(detect::DetectorId id, bool outbound);

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

  // The per-user detectors' alert (distributed_bruteforce, user_many_ips,
  // outbound_rejections, an outbound compromised_account): flags every client in `ips`
  // (flag_ips) or the account, writes the line and, with the fleet's user alerts shared,
  // tells the fleet (publish). When the fleet already has this alert (another sensor
  // wrote the line) it writes none and flags only a.ip (flag_ips). Returns whether a line
  // was written.
  bool raise_for_user(Alert a, std::vector<std::string> ips, bool flag_ips, std::chrono::milliseconds ttl, bool block,
                      bool publish = true);
  // Shared counts with shared flags (SPEC 10): per-user alerts go to the fleet table.
  void share_user_alerts(bool on) { share_user_alerts_.store(on, std::memory_order_relaxed); }
  // The per-user alerts raised here since the last call, as fleet rows (key
  // user_alert_key()); at most kMaxPendingUserAlerts wait, more are dropped.
  std::vector<FlagEntry> take_user_alerts();
  // A per-user row of the fleet table (another sensor's alert, or this one's merged).
  void apply_remote_user_alert(const FlagEntry& row);
  static constexpr std::size_t kMaxPendingUserAlerts = 10'000;

  // The control socket's changes (SPEC 11): each is written to the alert log as a
  // `manual` alert. Return an error text, or "" on success.
  std::string add_manual(const std::string& key, std::chrono::milliseconds ttl, bool block, const std::string& reason,
                         FlagTable::ManualAdd* out = nullptr);
  std::string remove_manual(const std::string& key);

  // Another sensor's detector event (SPEC 10, shared counts): counted in the windows now,
  // raising nothing at once (SPEC 9). When it reaches a threshold that no flag (an IP's,
  // or a per-user alert of the fleet's) here answers yet, the proposed flag goes to `claim` (the fleet's arbiter), which calls
  // back `won` if this sensor is the one to raise it; without a claim hook nothing more.
  void remote_event(const detect::DetectorEvent& e);
  using Claim = std::function<void(const FlagEntry& proposed, std::function<void()> won)>;
  void on_remote_crossing(Claim claim) { claim_ = std::move(claim); }
  // The clock the detectors' windows run on: whole seconds of steady_clock.
  static std::uint32_t steady_seconds();

 private:
  void claim_for_user(detect::Finding& f, const detect::DetectorEvent& e);
  // What a threshold crossed by another sensor's event proposes to the fleet (key: an
  // address or user_alert_key()) and the line this sensor writes if it wins the claim.
  FlagEntry fleet_proposal(std::string key, const detect::Finding& f, std::chrono::milliseconds ttl) const;
  Alert fleet_alert(const detect::Finding& f, std::string ip, std::string detail) const;

  std::string name_;
  Metrics& metrics_;
  Outputs& outputs_;
  FlagTable flags_;
  UserFlags user_flags_;
  detect::Engine detectors_;
  config::Addresses addresses_;  // the prefix grouping (changes only on restart)
  std::atomic<std::int64_t> ttl_ms_;
  Claim claim_;
  std::atomic<bool> share_user_alerts_{false};
  std::mutex user_alerts_mutex_;
  std::vector<FlagEntry> user_alerts_;  // guarded by user_alerts_mutex_
};

}  // namespace smtp::daemon
