// What all sessions report into: metrics, transcript, alert log, store and flag table.
#pragma once

#include "config/config.hpp"
#include "daemon/alert_log.hpp"
#include "daemon/flag_table.hpp"
#include "daemon/metrics.hpp"
#include "daemon/transcript_log.hpp"
#include "detect/engine.hpp"
#include "store/session_store.hpp"

#include <memory>

namespace smtp::daemon {

class Sensor {
 public:
  // Opens every sink now, so a bad path stops start-up with a clear message.
  Sensor(const config::Config& config, Metrics& metrics);
  ~Sensor();

  Metrics& metrics() { return metrics_; }
  TranscriptLog* transcript() { return transcript_.get(); }  // null when disabled
  store::SessionStore* store() { return store_.get(); }       // null when disabled
  FlagTable& flags() { return flags_; }
  detect::Engine& detectors() { return detectors_; }
  // SIGHUP: thresholds and actions change, the windows are kept.
  void reconfigure(const config::Config& config) { detectors_.reconfigure(config.detectors); }

  // Logs the alert unless the same (type, ip) was alerted within the flag TTL; flags
  // the IP either way. Returns whether a line was written.
  bool raise(Alert alert, std::chrono::milliseconds ttl, bool block);
  void flush();       // blocks until every sink has written what it holds (shutdown, tests)
  void flush_logs();  // asks the alert writer to flush; never blocks (once a second)

 private:
  Metrics& metrics_;
  std::unique_ptr<TranscriptLog> transcript_;
  std::unique_ptr<AlertLog> alerts_;
  std::unique_ptr<store::SessionStore> store_;
  FlagTable flags_;
  detect::Engine detectors_;
};

}  // namespace smtp::daemon
