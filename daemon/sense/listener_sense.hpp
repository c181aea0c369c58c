// Sense's side of one listener: the narrow context its sessions see, and their factory.
#pragma once

#include "config/config.hpp"
#include "daemon/relay/session_observer.hpp"
#include "daemon/sense/sensor.hpp"
#include "daemon/sinks/metrics.hpp"

#include <cstdint>
#include <memory>

namespace smtp::daemon {

class ListenerSense final : public ObserverFactory {
 public:
  ListenerSense(Sensor& sensor, config::Listener config, ListenerMetrics& metrics)
      : sensor_(sensor), config_(std::move(config)), metrics_(metrics) {}

  std::unique_ptr<SessionObserver> open(std::uint64_t lcid, const config::Config& config) override;
  void on_over_capacity() override;

  Sensor& sensor() { return sensor_; }
  const config::Listener& config() const { return config_; }
  ListenerMetrics& metrics() { return metrics_; }

 private:
  Sensor& sensor_;
  const config::Listener config_;
  ListenerMetrics& metrics_;
};

}  // namespace smtp::daemon
