#include "daemon/reload_plan.hpp"

#include <algorithm>
#include <functional>
#include <string_view>

namespace smtp::daemon {
namespace {

using config::Config;

// A restart-only key: its name, and how to copy it from the running config.
struct Fixed {
  std::string_view name;
  std::function<bool(const Config&, const Config&)> same;
  std::function<void(const Config&, Config&)> keep;
};

#define SMTP_SENSOR_FIXED(key) \
  Fixed { #key, [](const Config& a, const Config& b) { return a.key == b.key; }, [](const Config& a, Config& b) { b.key = a.key; } }

// The sinks, the store, the worker threads and the HTTP socket are opened once.
const std::vector<Fixed>& fixed_keys() {
  static const std::vector<Fixed> keys{
      SMTP_SENSOR_FIXED(threads),           SMTP_SENSOR_FIXED(http.listen),         SMTP_SENSOR_FIXED(metrics.domain_label_limit),
      SMTP_SENSOR_FIXED(transcripts.enabled), SMTP_SENSOR_FIXED(transcripts.path),  SMTP_SENSOR_FIXED(transcripts.max_size),
      SMTP_SENSOR_FIXED(transcripts.max_files), SMTP_SENSOR_FIXED(transcripts.queue_size), SMTP_SENSOR_FIXED(alerts.path),
      SMTP_SENSOR_FIXED(alerts.max_size),   SMTP_SENSOR_FIXED(alerts.max_files),    SMTP_SENSOR_FIXED(alerts.syslog),
      SMTP_SENSOR_FIXED(store.enabled),     SMTP_SENSOR_FIXED(store.path),          SMTP_SENSOR_FIXED(store.retention),
      SMTP_SENSOR_FIXED(store.queue_size),  SMTP_SENSOR_FIXED(control.socket),        SMTP_SENSOR_FIXED(sensor.name),
      SMTP_SENSOR_FIXED(fleet.url),         SMTP_SENSOR_FIXED(fleet.share_flags),   SMTP_SENSOR_FIXED(fleet.share_counts),
  };
  return keys;
}
#undef SMTP_SENSOR_FIXED

}  // namespace

std::vector<std::string> keep_restart_only(const Config& current, Config& fresh) {
  std::vector<std::string> kept;
  for (const auto& k : fixed_keys()) {
    if (k.same(current, fresh)) continue;
    k.keep(current, fresh);
    kept.emplace_back(k.name);
  }
  std::vector<config::Listener> listeners;
  for (const auto& was : current.listeners) {
    const auto it = std::find_if(fresh.listeners.begin(), fresh.listeners.end(), [&](const auto& l) { return l.name == was.name; });
    if (it == fresh.listeners.end()) {
      kept.push_back("listener '" + was.name + "' (removed)");
      listeners.push_back(was);
      continue;
    }
    config::Listener now = *it;
    const std::string where = "listener '" + was.name + "' ";
    if (now.listen.text() != was.listen.text()) kept.push_back(where + "listen"), now.listen = was.listen;
    // A listener's direction is what its store rows and report mean; original-destination
    // decides how its socket is opened (IP_TRANSPARENT for TPROXY).
    if (now.direction != was.direction) kept.push_back(where + "direction"), now.direction = was.direction;
    if (now.original_destination() != was.original_destination()) kept.push_back(where + "upstream"), now.upstream = was.upstream;
    // The TLS mode decides whether the listener holds certificates and how a session
    // starts; certificates themselves reload (tls.cert, tls.key, tls.ca_file).
    if (now.tls.mode != was.tls.mode) kept.push_back(where + "tls.mode"), now.tls.mode = was.tls.mode;
    if (now.tls.implicit != was.tls.implicit) kept.push_back(where + "tls.implicit"), now.tls.implicit = was.tls.implicit;
    if (now.tls.mode == config::TlsMode::terminate && (now.tls.cert.empty() || now.tls.key.empty()))
      now.tls.cert = was.tls.cert, now.tls.key = was.tls.key;
    listeners.push_back(std::move(now));
  }
  for (const auto& l : fresh.listeners)
    if (std::none_of(current.listeners.begin(), current.listeners.end(), [&](const auto& c) { return c.name == l.name; }))
      kept.push_back("listener '" + l.name + "' (added)");
  fresh.listeners = std::move(listeners);
  return kept;
}

}  // namespace smtp::daemon
