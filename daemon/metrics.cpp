#include "daemon/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace smtp::daemon {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {
prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& r, const char* name, const char* help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}
}  // namespace

Metrics::Metrics(std::size_t domain_label_limit)
    : registry_(std::make_shared<prometheus::Registry>()),
      connections_(counter(*registry_, "smtp_sensor_connections_total", "Accepted TCP connections")),
      active_(BuildGauge().Name("smtp_sensor_connections_active").Help("Connections open now").Register(*registry_)),
      blocked_(counter(*registry_, "smtp_sensor_blocked_connections_total",
                       "Connections refused by deny, flag or protocol rules, or refused by the upstream at the greeting")),
      terminations_(counter(*registry_, "smtp_sensor_terminations_total",
                            "Permanent rejections of MAIL, RCPT, DATA or end-of-data, and sessions that ended without a graceful QUIT")),
      bytes_(counter(*registry_, "smtp_sensor_bytes_total", "Bytes relayed, counted at the socket")),
      upstream_errors_(counter(*registry_, "smtp_sensor_upstream_errors_total",
                               "Upstream connects that failed or timed out, and upstreams that never greeted")),
      commands_(counter(*registry_, "smtp_sensor_commands_total", "Client command lines by verb")),
      bad_commands_(counter(*registry_, "smtp_sensor_bad_commands_total",
                            "Commands answered 500-504, and lines the decoder finds invalid")),
      replies_(counter(*registry_, "smtp_sensor_replies_total", "Server replies by class")),
      permanent_failures_(counter(*registry_, "smtp_sensor_permanent_failures_total", "5xx answers to MAIL, RCPT, DATA and end-of-data")),
      messages_(counter(*registry_, "smtp_sensor_messages_total", "Messages whose end-of-data got a 2xx")),
      auth_(counter(*registry_, "smtp_sensor_auth_attempts_total", "AUTH attempts by mechanism and result")),
      anomalies_(counter(*registry_, "smtp_sensor_anomalies_total", "Protocol anomalies the decoder saw")),
      tls_handshakes_(counter(*registry_, "smtp_sensor_tls_handshakes_total",
                              "TLS handshakes the sensor made in terminate mode, by side and result")),
      alerts_(counter(*registry_, "smtp_sensor_alerts_total", "Alerts raised, by detector")),
      domain_connections_(counter(*registry_, "smtp_sensor_domain_connections_total", "Sessions per domain (top domains, the rest as other)")),
      domain_messages_(counter(*registry_, "smtp_sensor_domain_messages_total", "Messages per domain")),
      domain_bytes_(counter(*registry_, "smtp_sensor_domain_bytes_total", "Bytes per domain, both directions")),
      dropped_(counter(*registry_, "smtp_sensor_events_dropped_total", "Lines or rows a full sink queue dropped")),
      domain_label_limit_(domain_label_limit) {
  flagged_ips_ = &BuildGauge().Name("smtp_sensor_flagged_ips").Help("IPs flagged now").Register(*registry_).Add({});
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
  for (const auto* sink : {"transcript", "alerts", "store"}) events_dropped(sink);
}

ListenerMetrics& Metrics::listener(const std::string& name) {
  auto [it, inserted] = listeners_.try_emplace(name);
  ListenerMetrics& m = it->second;
  if (!inserted) return m;
  const prometheus::Labels l{{"listener", name}};
  auto with = [&](const char* key, std::string_view value) {
    auto labels = l;
    labels.emplace(key, std::string(value));
    return labels;
  };
  m.upstream_connect = upstream_connect_;
  m.session_duration = session_duration_;
  m.connections = &connections_.Add(l);
  m.active = &active_.Add(l);
  m.upstream_errors = &upstream_errors_.Add(l);
  m.bad_commands = &bad_commands_.Add(l);
  m.messages = &messages_.Add(l);
  m.bytes_in = &bytes_.Add(with("direction", "in"));
  m.bytes_out = &bytes_.Add(with("direction", "out"));
  for (std::size_t i = 0; i < kBlockReasonNames.size(); ++i) m.blocked[i] = &blocked_.Add(with("reason", kBlockReasonNames[i]));
  for (std::size_t i = 0; i < kTerminationNames.size(); ++i)
    if (kTerminationNames[i] != "quit")  // a graceful QUIT is not a termination
      m.terminations[i] = &terminations_.Add(with("reason", kTerminationNames[i]));
  for (std::size_t i = 0; i < proto::verb_count; ++i)
    m.commands[i] = &commands_.Add(with("verb", proto::to_string(static_cast<proto::Verb>(i))));
  for (std::size_t i = 0; i < m.replies.size(); ++i) m.replies[i] = &replies_.Add(with("class", std::to_string(i + 2) + "xx"));
  for (std::size_t i = 0; i < kFailureStages.size(); ++i) m.permanent_failures[i] = &permanent_failures_.Add(with("stage", kFailureStages[i]));
  for (std::size_t mech = 0; mech < kAuthMechanisms; ++mech)
    for (std::size_t res = 0; res < kAuthResults; ++res) {
      auto labels = with("mechanism", proto::to_string(static_cast<proto::AuthMechanism>(mech)));
      labels.emplace("result", std::string(proto::to_string(static_cast<proto::AuthResult>(res))));
      m.auth[mech][res] = &auth_.Add(labels);
    }
  for (std::size_t i = 0; i < proto::anomaly_count; ++i)
    m.anomalies[i] = &anomalies_.Add(with("kind", proto::to_string(static_cast<proto::Anomaly>(i))));
  for (std::size_t side = 0; side < kTlsSideNames.size(); ++side)
    for (std::size_t res = 0; res < kTlsResultNames.size(); ++res) {
      auto labels = with("side", kTlsSideNames[side]);
      labels.emplace("result", std::string(kTlsResultNames[res]));
      m.tls_handshakes[side][res] = &tls_handshakes_.Add(labels);
    }
  return m;
}

DomainMetrics& Metrics::domain(const std::string& name) {
  std::lock_guard lock(domains_mutex_);
  auto it = domains_.find(name);
  if (it != domains_.end()) return it->second;
  // The "other" bucket is made on first need and does not count against the limit.
  const std::string label = domains_.size() < domain_label_limit_ ? name : "other";
  if (label != name) {
    if (auto o = domains_.find("other"); o != domains_.end()) return o->second;
  }
  DomainMetrics d{&domain_connections_.Add({{"domain", label}}), &domain_messages_.Add({{"domain", label}}),
                  &domain_bytes_.Add({{"domain", label}})};
  return domains_.emplace(label, d).first->second;
}

prometheus::Counter& Metrics::alerts(const std::string& type) { return alerts_.Add({{"type", type}}); }

prometheus::Counter& Metrics::events_dropped(const std::string& sink) { return dropped_.Add({{"sink", sink}}); }

std::string Metrics::serialize() {
  for (auto& hook : scrape_hooks_) hook();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace smtp::daemon
