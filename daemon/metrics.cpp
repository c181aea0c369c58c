#include "daemon/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace smtp::daemon {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      connections_(BuildCounter().Name("smtp_sensor_connections_total").Help("Accepted TCP connections").Register(*registry_)),
      active_(BuildGauge().Name("smtp_sensor_connections_active").Help("Connections open now").Register(*registry_)),
      blocked_(BuildCounter()
                   .Name("smtp_sensor_blocked_connections_total")
                   .Help("Connections refused by deny, flag or protocol rules, or refused by the upstream at the greeting")
                   .Register(*registry_)),
      terminations_(BuildCounter()
                        .Name("smtp_sensor_terminations_total")
                        .Help("Sessions that ended without a graceful QUIT, and permanent rejections, by reason")
                        .Register(*registry_)),
      bytes_(BuildCounter().Name("smtp_sensor_bytes_total").Help("Bytes relayed, counted at the socket").Register(*registry_)),
      upstream_errors_(BuildCounter()
                           .Name("smtp_sensor_upstream_errors_total")
                           .Help("Upstream connects that failed or timed out, and upstreams that never greeted")
                           .Register(*registry_)) {
  const prometheus::Histogram::BucketBoundaries connect_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  upstream_connect_ = &BuildHistogram()
                           .Name("smtp_sensor_upstream_connect_seconds")
                           .Help("Time to connect to the upstream")
                           .Register(*registry_)
                           .Add({}, connect_buckets);
  const prometheus::Histogram::BucketBoundaries session_buckets{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
  session_duration_ = &BuildHistogram()
                            .Name("smtp_sensor_session_duration_seconds")
                            .Help("How long sessions lasted")
                            .Register(*registry_)
                            .Add({}, session_buckets);
}

ListenerMetrics& Metrics::listener(const std::string& name) {
  auto [it, inserted] = listeners_.try_emplace(name);
  ListenerMetrics& m = it->second;
  if (!inserted) return m;
  m.connections = &connections_.Add({{"listener", name}});
  m.active = &active_.Add({{"listener", name}});
  m.upstream_errors = &upstream_errors_.Add({{"listener", name}});
  m.upstream_connect = upstream_connect_;
  m.session_duration = session_duration_;
  m.bytes_in = &bytes_.Add({{"listener", name}, {"direction", "in"}});
  m.bytes_out = &bytes_.Add({{"listener", name}, {"direction", "out"}});
  for (std::size_t i = 0; i < kBlockReasonNames.size(); ++i)
    m.blocked[i] = &blocked_.Add({{"listener", name}, {"reason", std::string(kBlockReasonNames[i])}});
  for (std::size_t i = 0; i < kTerminationNames.size(); ++i)
    m.terminations[i] = &terminations_.Add({{"listener", name}, {"reason", std::string(kTerminationNames[i])}});
  return m;
}

std::string Metrics::serialize() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

}  // namespace smtp::daemon
