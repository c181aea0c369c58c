#include "daemon/fleet_share.hpp"

#include "daemon/sinks/alert_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace smtp::daemon {
namespace {

std::int64_t to_ms(FlagClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
FlagClock::time_point from_ms(std::int64_t ms) { return FlagClock::time_point(std::chrono::milliseconds(ms)); }

void mirror(prometheus::Counter& metric, std::uint64_t total) {
  const double have = metric.Value();
  if (static_cast<double>(total) > have) metric.Increment(static_cast<double>(total) - have);
}

std::string password_of(const config::Config& cfg) {
  if (cfg.fleet.password_file.empty()) return {};
  try {
    return fleet::read_password_file(cfg.fleet.password_file);
  } catch (const std::exception&) {
    return {};  // FleetLink logs this once
  }
}

}  // namespace

std::chrono::seconds shared_events_horizon(const config::Detectors& d) {
  std::chrono::seconds longest{60};
  for (std::size_t i = 0; i < config::kDetectorCount; ++i) {
    const auto id = static_cast<config::DetectorId>(i);
    const auto counts = config::info(id).counts;
    if (counts == config::Counts::occurrence || counts == config::Counts::session || !d[id].enabled) continue;
    longest = std::max(longest, std::chrono::duration_cast<std::chrono::seconds>(d[id].window));
  }
  return std::min<std::chrono::seconds>(longest, std::chrono::hours(24 * 7));
}

fleet::SharedFlag to_shared(const std::string& key, const std::optional<FlagEntry>& entry, const std::string& sensor) {
  fleet::SharedFlag f;
  f.key = key;
  if (!entry) {  // an explicit removal: a tombstone that ends now
    f.type = "manual";
    f.sensor = sensor;
    f.since_ms = f.expires_ms = to_ms(FlagClock::now());
    f.removed = true;
    return f;
  }
  f.type = entry->type;
  f.sensor = entry->sensor.empty() ? sensor : entry->sensor;
  f.since_ms = to_ms(entry->since);
  f.expires_ms = to_ms(entry->expires);
  f.block = entry->block;
  f.manual = entry->manual;
  f.reason = entry->reason;
  f.count = entry->count;
  return f;
}

FlagEntry from_shared(const fleet::SharedFlag& f) {
  FlagEntry e;
  e.ip = f.key;
  e.type = f.type;
  e.sensor = f.sensor;
  e.since = from_ms(f.since_ms);
  e.expires = from_ms(f.expires_ms);
  e.block = f.block;
  e.manual = f.manual;
  e.reason = f.reason;
  e.count = f.count;
  return e;
}

FleetShare::FleetShare(const config::Config& cfg, Sensor& sensor, SinkOutputs& outputs, Metrics& metrics) {
  const bool flags = cfg.fleet.share_flags, counts = cfg.fleet.share_counts;
  if (cfg.fleet.url.empty() || (!flags && !counts)) return;
  fleet::SharerOptions options;
  options.sensor = sensor.name();
  options.connect.url = cfg.fleet.url;
  options.connect.password = password_of(cfg);
  options.share_flags = flags;
  options.share_counts = counts;
  options.horizon = shared_events_horizon(cfg.detectors);
  fleet::SharerHooks hooks;
  const std::string name = sensor.name();
  auto* table = &sensor.flags();
  auto* s = &sensor;
  table->share_changes(flags);
  // Per-user alerts are one row per (detector, account) in the same table, so that one
  // sensor of the fleet writes each (SPEC 9); they need both kinds of sharing.
  sensor.share_user_alerts(flags && counts);
  hooks.take_flags = [table, s, name] {
    std::vector<fleet::SharedFlag> out;
    for (const auto& [key, entry] : table->take_shared_changes()) out.push_back(to_shared(key, entry, name));
    for (const auto& row : s->take_user_alerts()) out.push_back(to_shared(row.ip, row, name));
    return out;
  };
  hooks.apply_flag = [table, s](const fleet::SharedFlag& f) {
    if (parse_user_alert_key(f.key)) {
      if (!f.removed) s->apply_remote_user_alert(from_shared(f));
    } else if (f.removed) {
      table->remove_remote(f.key);
    } else {
      table->apply_remote(from_shared(f));
    }
  };
  hooks.events = [s](const std::vector<detect::DetectorEvent>& events) {
    for (const auto& e : events) s->remote_event(e);
  };
  hooks.log = [](int level, const std::string& text) {
    spdlog::log(level == 0 ? spdlog::level::info : level == 1 ? spdlog::level::warn : spdlog::level::err, "{}", text);
  };
  sharer_ = std::make_unique<fleet::Sharer>(std::move(options), std::move(hooks));
  if (counts) {
    auto* sharer = sharer_.get();
    outputs.share_with([sharer](detect::DetectorEvent e) { sharer->publish(std::move(e)); });
    // Who raises a threshold that another sensor's event reached: the fleet table decides.
    if (flags)
      sensor.on_remote_crossing([sharer, name](const FlagEntry& proposed, std::function<void()> won) {
        sharer->claim(to_shared(proposed.ip, proposed, name), std::move(won));
      });
  }
  auto* published = &metrics.fleet_events_published();
  auto* received = &metrics.fleet_events_received();
  auto* dropped = &metrics.fleet_events_dropped();
  auto* flags_received = &metrics.fleet_flags_received();
  auto* errors = &metrics.fleet_errors("share");
  auto* up = &metrics.fleet_up();
  // The server's metrics outlive its FleetShare, and the hook checks sharer_. It runs
  // after FleetLink's (registered first), so fleet_up is 1 only while both threads are
  // connected: the sharer's LISTEN connection notices an outage even with no traffic.
  metrics.on_scrape([this, published, received, dropped, flags_received, errors, up] {
    if (!sharer_) return;
    if (!sharer_->up()) up->Set(0);
    mirror(*published, sharer_->events_published());
    mirror(*received, sharer_->events_received());
    mirror(*dropped, sharer_->events_dropped());
    mirror(*flags_received, sharer_->flags_received());
    mirror(*errors, sharer_->errors());
  });
}

FleetShare::~FleetShare() = default;

void FleetShare::reload(const config::Config& fresh) {
  if (sharer_) sharer_->set_password(password_of(fresh));
}

}  // namespace smtp::daemon
