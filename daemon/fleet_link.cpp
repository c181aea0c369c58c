#include "daemon/fleet_link.hpp"

#include "daemon/sinks/alert_log.hpp"
#include "fleet/fleet_report.hpp"
#include "report/report.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <climits>

namespace smtp::daemon {
namespace {

void mirror(prometheus::Counter& metric, std::uint64_t total) {
  const double have = metric.Value();
  if (static_cast<double>(total) > have) metric.Increment(static_cast<double>(total) - have);
}

// The password is never logged: only whether reading the file worked.
std::string password_from(const config::Config& cfg) {
  if (cfg.fleet.password_file.empty()) return {};
  try {
    return fleet::read_password_file(cfg.fleet.password_file);
  } catch (const std::exception& e) {
    spdlog::error("{}; connecting without it (libpq's PGPASSFILE or ~/.pgpass apply)", e.what());
    return {};
  }
}

}  // namespace

std::string sensor_name(const config::Config& cfg) { return sensor_name(cfg.sensor); }  // one rule: sinks/alert_log

FleetLink::FleetLink(const config::Config& cfg, Metrics& metrics) : url_(cfg.fleet.url) {
  if (cfg.fleet.url.empty()) return;
  password_ = password_from(cfg);
  if (!cfg.store.enabled) {
    spdlog::error("fleet: sessions are shipped from the local store, and store.enabled is false: nothing is shipped");
    return;
  }
  fleet::ShipperOptions options;
  options.store_path = cfg.store.path;
  options.sensor = sensor_name(cfg);
  options.connect.url = cfg.fleet.url;
  options.connect.password = password_;
  spdlog::info("fleet: shipping sessions to {} as sensor '{}'", fleet::describe_url(cfg.fleet.url), options.sensor);
  shipper_ = std::make_unique<fleet::Shipper>(std::move(options), [](int level, const std::string& text) {
    spdlog::log(level == 0 ? spdlog::level::info : level == 1 ? spdlog::level::warn : spdlog::level::err, "{}", text);
  });
  auto* up = &metrics.fleet_up();
  auto* backlog = &metrics.fleet_backlog();
  auto* shipped = &metrics.fleet_shipped();
  std::array<prometheus::Counter*, fleet::kShipOpNames.size()> errors{};
  for (std::size_t i = 0; i < errors.size(); ++i) errors[i] = &metrics.fleet_errors(fleet::kShipOpNames[i]);
  // The hook outlives nothing: the server's metrics go after its FleetLink.
  metrics.on_scrape([this, up, backlog, shipped, errors] {
    if (!shipper_) return;
    up->Set(shipper_->up() ? 1 : 0);
    backlog->Set(static_cast<double>(shipper_->backlog()));
    mirror(*shipped, shipper_->shipped());
    for (std::size_t i = 0; i < errors.size(); ++i) mirror(*errors[i], shipper_->errors(static_cast<fleet::ShipOp>(i)));
  });
}

FleetLink::~FleetLink() = default;

void FleetLink::reload(const config::Config& fresh) {
  if (url_.empty()) return;
  auto password = password_from(fresh);
  if (shipper_) shipper_->set_password(password);
  std::lock_guard lock(mutex_);
  password_ = std::move(password);
}

FleetReport FleetLink::report_function() {
  if (url_.empty()) return {};
  return [this](const report::Query& q, const std::function<void(std::string_view)>& write) {
    fleet::ConnectInfo info;
    info.url = url_;
    info.application_name = "smtp-sensor report";
    {
      std::lock_guard lock(mutex_);
      info.password = password_;
    }
    try {
      fleet::write_fleet_report(info, q, q.sensors, write);
    } catch (const fleet::PgError& e) {
      throw report::StoreUnavailable("fleet database " + fleet::describe_url(url_) + ": " + e.what());
    }
  };
}

}  // namespace smtp::daemon
