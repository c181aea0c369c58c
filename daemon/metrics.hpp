// Prometheus metrics: families declared once, per-listener series resolved once.
#pragma once

#include "daemon/session_types.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <memory>
#include <string>

namespace smtp::daemon {

// Every series a session touches is looked up here when the listener starts, so the
// hot path only increments (Family::Add takes a lock and hashes labels).
struct ListenerMetrics {
  prometheus::Counter* connections = nullptr;
  prometheus::Gauge* active = nullptr;
  prometheus::Counter* upstream_errors = nullptr;
  prometheus::Counter* bytes_in = nullptr;
  prometheus::Counter* bytes_out = nullptr;
  std::array<prometheus::Counter*, kBlockReasonNames.size()> blocked{};
  std::array<prometheus::Counter*, kTerminationNames.size()> terminations{};
  prometheus::Histogram* upstream_connect = nullptr;  // shared by all listeners
  prometheus::Histogram* session_duration = nullptr;
};

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  ListenerMetrics& listener(const std::string& name);  // start-up only
  prometheus::Histogram& upstream_connect_seconds() { return *upstream_connect_; }
  prometheus::Histogram& session_duration_seconds() { return *session_duration_; }
  prometheus::Registry& registry() { return *registry_; }

  std::string serialize() const;  // Prometheus text exposition format

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& connections_;
  prometheus::Family<prometheus::Gauge>& active_;
  prometheus::Family<prometheus::Counter>& blocked_;
  prometheus::Family<prometheus::Counter>& terminations_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& upstream_errors_;
  prometheus::Histogram* upstream_connect_;
  prometheus::Histogram* session_duration_;
  std::map<std::string, ListenerMetrics> listeners_;
};

}  // namespace smtp::daemon
