// Prometheus metrics (SPEC section 7): families from metric_families.hpp, per-listener series resolved once.
#pragma once

#include "daemon/session_types.hpp"
#include "daemon/sinks/metric_families.hpp"
#include "proto/anomalies.hpp"
#include "proto/events.hpp"
#include "proto/smtp_verbs.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace smtp::daemon {

// The stages whose 5xx answers count as permanent failures, as the metric labels them.
inline constexpr std::array<proto::Stage, 4> kFailureStages{proto::Stage::mail, proto::Stage::rcpt, proto::Stage::data,
                                                            proto::Stage::eod};
std::optional<std::size_t> failure_stage_index(proto::Stage s);

// Every series a session touches is looked up here when the listener starts, so the
// hot path only increments (Family::Add takes a lock and hashes labels).
struct ListenerMetrics {
  prometheus::Counter* connections = nullptr;
  prometheus::Gauge* active = nullptr;
  prometheus::Counter* upstream_errors = nullptr;
  prometheus::Counter* out_of_descriptors = nullptr;  // stage "upstream"
  prometheus::Counter* bytes_in = nullptr;
  prometheus::Counter* bytes_out = nullptr;
  prometheus::Counter* bad_commands = nullptr;
  prometheus::Counter* messages = nullptr;
  std::array<prometheus::Counter*, kBlockReasonNames.size()> blocked{};
  std::array<prometheus::Counter*, kTerminationNames.size()> terminations{};
  std::array<prometheus::Counter*, proto::verb_count> commands{};
  std::array<prometheus::Counter*, 4> replies{};  // 2xx..5xx
  std::array<prometheus::Counter*, kFailureStages.size()> permanent_failures{};
  std::array<std::array<prometheus::Counter*, proto::auth_result_count>, proto::auth_mechanism_count> auth{};
  std::array<prometheus::Counter*, proto::anomaly_count> anomalies{};
  std::array<std::array<prometheus::Counter*, kTlsResultNames.size()>, kTlsSideNames.size()> tls_handshakes{};
  prometheus::Histogram* upstream_connect = nullptr;  // shared by all listeners
  prometheus::Histogram* session_duration = nullptr;

  void count(BlockReason r) { blocked[static_cast<std::size_t>(r)]->Increment(); }
  void count(Termination t) { terminations[static_cast<std::size_t>(t)]->Increment(); }
  void count(TlsSide s, TlsResult r) { tls_handshakes[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)]->Increment(); }
};

// Per-domain series, capped: the first domain_label_limit domains seen get a label of
// their own, every later one counts under "other", so label cardinality stays bounded.
struct DomainMetrics {
  prometheus::Counter* connections = nullptr;
  prometheus::Counter* messages = nullptr;
  prometheus::Counter* bytes = nullptr;
};

class Metrics {
 public:
  // version: the build_info label (SMTP_SENSOR_VERSION in the daemon).
  explicit Metrics(std::size_t domain_label_limit = 200, const std::string& version = "dev");
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  ListenerMetrics& listener(const std::string& name);  // start-up only
  DomainMetrics& domain(const std::string& name);      // at session end; takes a lock
  prometheus::Counter& alerts(std::string_view type);
  prometheus::Gauge& flagged_ips() { return *flagged_ips_series_; }
  prometheus::Counter& flags_evicted() { return *flags_evicted_series_; }
  prometheus::Counter& http_auth_failures() { return *http_auth_failures_series_; }
  prometheus::Counter& events_dropped(const std::string& sink);
  // listener: a listener's name or "http"; stage: "accept" or "upstream". Takes a lock:
  // only for the error path.
  prometheus::Counter& out_of_descriptors(std::string_view listener, std::string_view stage);
  prometheus::Registry& registry() { return *registry_; }
  // SPEC 10, only when a fleet is configured (no series otherwise). Takes a lock: for the
  // scrape hook that mirrors the shipper's counts.
  prometheus::Gauge& fleet_up() { return fleet_up_.Add({}); }
  prometheus::Gauge& fleet_backlog() { return fleet_backlog_.Add({}); }
  prometheus::Counter& fleet_shipped() { return fleet_shipped_.Add({}); }
  prometheus::Counter& fleet_errors(std::string_view op) { return fleet_errors_.Add({{"op", std::string(op)}}); }
  prometheus::Counter& fleet_events_published() { return fleet_events_published_.Add({}); }
  prometheus::Counter& fleet_events_received() { return fleet_events_received_.Add({}); }
  prometheus::Counter& fleet_events_dropped() { return fleet_events_dropped_.Add({}); }
  prometheus::Counter& fleet_flags_received() { return fleet_flags_received_.Add({}); }

  // The outcome of a config load on SIGHUP: smtp_sensor_config_last_reload_successful, and
  // on success ..._success_timestamp_seconds = now. The start-up load counts as a success.
  void reloaded(bool ok);

  // Runs before each scrape: sinks report their drop counts this way.
  void on_scrape(std::function<void()> hook) { scrape_hooks_.push_back(std::move(hook)); }
  std::string serialize();  // Prometheus text exposition format

 private:
  std::shared_ptr<prometheus::Registry> registry_;
#define SMTP_SENSOR_FAMILY_MEMBER(member, kind, name, help) prometheus::Family<prometheus::kind>& member##_;
  SMTP_SENSOR_METRIC_FAMILIES(SMTP_SENSOR_FAMILY_MEMBER)
  SMTP_SENSOR_PROCESS_FAMILIES(SMTP_SENSOR_FAMILY_MEMBER)
#undef SMTP_SENSOR_FAMILY_MEMBER
  prometheus::Gauge* flagged_ips_series_;
  prometheus::Counter* flags_evicted_series_;
  prometheus::Counter* http_auth_failures_series_;
  prometheus::Histogram* upstream_connect_series_;
  prometheus::Histogram* session_duration_series_;
  prometheus::Gauge* reload_successful_series_;
  prometheus::Gauge* reload_success_time_series_;
  std::map<std::string, ListenerMetrics> listeners_;
  std::size_t domain_label_limit_;
  std::mutex domains_mutex_;
  std::map<std::string, DomainMetrics, std::less<>> domains_;
  std::vector<std::function<void()>> scrape_hooks_;
};

}  // namespace smtp::daemon
