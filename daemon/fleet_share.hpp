// The daemon's side of shared flags and shared counts (SPEC 10): starts the fleet's
// sharer thread when fleet.url is set and share_flags or share_counts is on, and wires it
// to sense: the flag table's own changes go out, the fleet's flags come into the flag
// table, this sensor's detector events go out and the others' enter the detectors.
#pragma once

#include "config/config.hpp"
#include "daemon/sense/sensor.hpp"
#include "daemon/sink_outputs.hpp"
#include "daemon/sinks/metrics.hpp"
#include "fleet/sharer.hpp"

#include <memory>
#include <string>

namespace smtp::daemon {

// The longest window of the enabled detectors that count events, at most 7 days: how long
// shared events are kept and how old a replayed one may be.
std::chrono::seconds shared_events_horizon(const config::Detectors& d);

// FlagEntry and the fleet's row, both ways (the pure part of the wiring).
fleet::SharedFlag to_shared(const std::string& key, const std::optional<FlagEntry>& entry, const std::string& sensor);
FlagEntry from_shared(const fleet::SharedFlag& f);

class FleetShare {
 public:
  // Never throws for the database. Call before the first session: it sets the outputs' tap.
  FleetShare(const config::Config& cfg, Sensor& sensor, SinkOutputs& outputs, Metrics& metrics);
  ~FleetShare();
  void reload(const config::Config& fresh);  // SIGHUP: password_file again
  bool active() const { return sharer_ != nullptr; }

 private:
  std::unique_ptr<fleet::Sharer> sharer_;
};

}  // namespace smtp::daemon
