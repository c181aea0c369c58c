#include "daemon/sinks/metrics.hpp"

#include "daemon/sinks/process_metrics.hpp"

#include <prometheus/text_serializer.h>

#include <chrono>

namespace smtp::daemon {

std::optional<std::size_t> failure_stage_index(proto::Stage s) {
  for (std::size_t i = 0; i < kFailureStages.size(); ++i)
    if (kFailureStages[i] == s) return i;
  return std::nullopt;
}

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Metrics::Metrics(std::size_t domain_label_limit, const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
#define SMTP_SENSOR_FAMILY_INIT(member, kind, name, help) member##_(prometheus::Build##kind().Name(name).Help(help).Register(*registry_)),
      SMTP_SENSOR_METRIC_FAMILIES(SMTP_SENSOR_FAMILY_INIT)
      SMTP_SENSOR_PROCESS_FAMILIES(SMTP_SENSOR_FAMILY_INIT)
#undef SMTP_SENSOR_FAMILY_INIT
      domain_label_limit_(domain_label_limit) {
  flagged_ips_series_ = &flagged_ips_.Add({});
  flags_evicted_series_ = &flags_evicted_.Add({});
  http_auth_failures_series_ = &http_auth_failures_.Add({});
  upstream_connect_series_ =
      &upstream_connect_.Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                         0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  session_duration_series_ = &session_duration_.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600});
  for (const auto* sink : {"transcript", "alerts", "store"}) events_dropped(sink);
  build_info_.Add({{"version", version}}).Set(1);
  reload_successful_series_ = &reload_successful_.Add({});
  reload_success_time_series_ = &reload_success_time_.Add({});
  reloaded(true);  // the config the daemon started with

  auto& cpu = process_cpu_.Add({});
  auto& resident = process_resident_.Add({});
  auto& virt = process_virtual_.Add({});
  auto& open_fds = process_open_fds_.Add({});
  auto& max_fds = process_max_fds_.Add({});
  auto& start_time = process_start_time_.Add({});
  start_time.Set(sample_process().start_time_seconds);
  on_scrape([&cpu, &resident, &virt, &open_fds, &max_fds] {
    const auto s = sample_process();
    if (s.cpu_seconds > cpu.Value()) cpu.Increment(s.cpu_seconds - cpu.Value());
    resident.Set(s.resident_bytes);
    virt.Set(s.virtual_bytes);
    open_fds.Set(s.open_fds);
    max_fds.Set(s.max_fds);
  });
}

void Metrics::reloaded(bool ok) {
  reload_successful_series_->Set(ok ? 1 : 0);
  if (ok) reload_success_time_series_->Set(unix_now());
}

ListenerMetrics& Metrics::listener(const std::string& name) {
  auto [it, inserted] = listeners_.try_emplace(name);
  ListenerMetrics& m = it->second;
  if (!inserted) return m;
  const prometheus::Labels l{{"listener", name}};
  auto with = [&](std::initializer_list<std::pair<const char*, std::string_view>> extra) {
    auto labels = l;
    for (const auto& [key, value] : extra) labels.emplace(key, std::string(value));
    return labels;
  };
  m.upstream_connect = upstream_connect_series_;
  m.session_duration = session_duration_series_;
  m.connections = &connections_.Add(l);
  m.active = &active_.Add(l);
  m.upstream_errors = &upstream_errors_.Add(l);
  m.out_of_descriptors = &out_of_descriptors_.Add(with({{"stage", "upstream"}}));
  m.bad_commands = &bad_commands_.Add(l);
  m.messages = &messages_.Add(l);
  m.bytes_in = &bytes_.Add(with({{"direction", "in"}}));
  m.bytes_out = &bytes_.Add(with({{"direction", "out"}}));
  for (std::size_t i = 0; i < kBlockReasonNames.size(); ++i) m.blocked[i] = &blocked_.Add(with({{"reason", kBlockReasonNames[i]}}));
  for (std::size_t i = 0; i < kTerminationNames.size(); ++i)
    if (kTerminationNames[i] != "quit")  // a graceful QUIT is not a termination
      m.terminations[i] = &terminations_.Add(with({{"reason", kTerminationNames[i]}}));
  for (std::size_t i = 0; i < proto::verb_count; ++i)
    m.commands[i] = &commands_.Add(with({{"verb", proto::to_string(static_cast<proto::Verb>(i))}}));
  for (std::size_t i = 0; i < m.replies.size(); ++i) m.replies[i] = &replies_.Add(with({{"class", std::to_string(i + 2) + "xx"}}));
  for (std::size_t i = 0; i < kFailureStages.size(); ++i)
    m.permanent_failures[i] = &permanent_failures_.Add(with({{"stage", proto::to_string(kFailureStages[i])}}));
  for (std::size_t mech = 0; mech < proto::auth_mechanism_count; ++mech)
    for (std::size_t res = 0; res < proto::auth_result_count; ++res)
      m.auth[mech][res] = &auth_.Add(with({{"mechanism", proto::to_string(static_cast<proto::AuthMechanism>(mech))},
                                           {"result", proto::to_string(static_cast<proto::AuthResult>(res))}}));
  for (std::size_t i = 0; i < proto::anomaly_count; ++i)
    m.anomalies[i] = &anomalies_.Add(with({{"kind", proto::to_string(static_cast<proto::Anomaly>(i))}}));
  for (std::size_t side = 0; side < kTlsSideNames.size(); ++side)
    for (std::size_t res = 0; res < kTlsResultNames.size(); ++res)
      m.tls_handshakes[side][res] = &tls_handshakes_.Add(with({{"side", kTlsSideNames[side]}, {"result", kTlsResultNames[res]}}));
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

prometheus::Counter& Metrics::alerts(std::string_view type) { return alerts_.Add({{"type", std::string(type)}}); }

prometheus::Counter& Metrics::events_dropped(const std::string& sink) { return dropped_.Add({{"sink", sink}}); }

prometheus::Counter& Metrics::out_of_descriptors(std::string_view listener, std::string_view stage) {
  return out_of_descriptors_.Add({{"listener", std::string(listener)}, {"stage", std::string(stage)}});
}

std::string Metrics::serialize() {
  for (auto& hook : scrape_hooks_) hook();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace smtp::daemon
