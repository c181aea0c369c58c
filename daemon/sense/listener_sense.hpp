// Sense's side of one listener: the narrow context its sessions see, and their factory.
#pragma once

#include "config/config.hpp"
#include "daemon/relay/session_observer.hpp"
#include "daemon/sense/client_slots.hpp"
#include "daemon/sense/sensor.hpp"
#include "daemon/sinks/metrics.hpp"

#include <cstdint>
#include <memory>

namespace smtp::daemon {

class ListenerSense final : public ObserverFactory {
 public:
  // index: this listener's place in every Config a session may be opened with.
  ListenerSense(Sensor& sensor, std::size_t index, ListenerMetrics& metrics) : sensor_(sensor), index_(index), metrics_(metrics) {}

  std::unique_ptr<SessionObserver> open(std::uint64_t lcid, const config::Config& config) override;
  void on_over_capacity() override;

  Sensor& sensor() { return sensor_; }
  std::size_t index() const { return index_; }
  ListenerMetrics& metrics() { return metrics_; }
  ClientSlots& slots() { return slots_; }  // lives with the listener: across reloads

 private:
  Sensor& sensor_;
  const std::size_t index_;
  ListenerMetrics& metrics_;
  ClientSlots slots_;
};

}  // namespace smtp::daemon
