// The daemon's side of the fleet (SPEC 10): starts the shipper when fleet.url is set,
// mirrors its counts into the smtp_sensor_fleet_* metrics at scrape, and hands it the
// password again on SIGHUP.
#pragma once

#include "config/config.hpp"
#include "daemon/http/report_route.hpp"
#include "daemon/sinks/metrics.hpp"
#include "fleet/shipper.hpp"

#include <memory>
#include <mutex>
#include <string>

namespace smtp::daemon {

// sensor.name, or the host name when it is empty.
std::string sensor_name(const config::Config& cfg);

class FleetLink {
 public:
  // Never throws for the database: an unreachable fleet is logged and retried.
  FleetLink(const config::Config& cfg, Metrics& metrics);
  ~FleetLink();
  // SIGHUP: password_file is read again (the URL changes only on restart).
  void reload(const config::Config& fresh);
  bool active() const { return shipper_ != nullptr; }
  // GET /report?fleet=1 (on the report pool); empty when no fleet is configured.
  FleetReport report_function();

 private:
  std::string url_;
  std::mutex mutex_;
  std::string password_;  // guarded by mutex_; from password_file, never logged
  std::unique_ptr<fleet::Shipper> shipper_;
};

}  // namespace smtp::daemon
