#include "daemon/sinks/alert_log.hpp"

#include "text/json.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

namespace smtp::daemon {

using text::append_json_string;

std::string to_json(const Alert& a) {
  std::string j = "{\"ts\":\"" + text::iso8601_utc(a.ts) + "\",\"type\":";
  append_json_string(j, a.type);
  j += ",\"severity\":";
  append_json_string(j, a.severity);
  j += ",\"ip\":";
  append_json_string(j, a.ip);
  j += ",\"listener\":";
  append_json_string(j, a.listener);
  j += ",\"lcid\":" + std::to_string(a.lcid) + ",\"count\":" + std::to_string(a.count) +
       ",\"threshold\":" + std::to_string(a.threshold) + ",\"window_s\":" + std::to_string(a.window_s) + ",\"action\":";
  append_json_string(j, a.action);
  j += ",\"detail\":";
  append_json_string(j, a.detail);
  j += ",\"users\":[";
  for (std::size_t i = 0; i < a.users.size(); ++i) {
    if (i) j += ',';
    append_json_string(j, a.users[i]);
  }
  j += "],\"ips\":[";
  for (std::size_t i = 0; i < a.ips.size(); ++i) {
    if (i) j += ',';
    append_json_string(j, a.ips[i]);
  }
  j += "],\"ips_more\":" + std::to_string(a.ips_more) + ",\"sensor\":";
  const auto& sensor = a.sensor.empty() ? host_name() : a.sensor;
  append_json_string(j, sensor);
  j += ",\"id\":";
  append_json_string(j, a.id.empty() ? next_alert_id(sensor) : a.id);
  j += '}';
  return j;
}

std::string sensor_name(const config::Sensor& s) { return s.name.empty() ? host_name() : s.name; }

const std::string& host_name() {
  static const std::string name = [] {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return std::string("localhost");
    return std::string(buf);
  }();
  return name;
}

std::string next_alert_id(std::string_view sensor) {
  static std::atomic<std::uint64_t> counter{static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count())};
  return fmt::format("{}-{:016x}", sensor, counter.fetch_add(1, std::memory_order_relaxed));
}

AlertLog::AlertLog(const config::Alerts& cfg) : pool_(std::make_shared<spdlog::details::thread_pool>(4096, 1, [] { pthread_setname_np(pthread_self(), "alerts"); })) {
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.path, cfg.max_size, cfg.max_files)};
  if (cfg.syslog) sinks.push_back(std::make_shared<spdlog::sinks::syslog_sink_mt>("smtp-sensor", LOG_PID, LOG_MAIL, false));
  logger_ = std::make_shared<spdlog::async_logger>("alerts", sinks.begin(), sinks.end(), pool_,
                                                   spdlog::async_overflow_policy::overrun_oldest);
  logger_->set_pattern("%v");
  // spdlog reports a write the file refuses here (and would print it to stderr on its own):
  // count it as a dropped alert, and say why in the daemon's log at most once a minute.
  logger_->set_error_handler([this, path = cfg.path](const std::string& why) {
    failed_writes_.fetch_add(1, std::memory_order_relaxed);
    if (error_log_.occurred() == 0) return;
    spdlog::error("alerts: cannot write to {}: {}; alerts are dropped and counted in "
                  "smtp_sensor_events_dropped_total{{sink=\"alerts\"}}",
                  path, why);
  });
  // Alerts are rare and people tail the file: every line reaches the disk at once.
  logger_->flush_on(spdlog::level::info);
}

AlertLog::~AlertLog() { flush(); }

void AlertLog::write(const Alert& a) { logger_->warn("{}", to_json(a)); }

std::uint64_t AlertLog::dropped() const {
  return pool_->overrun_counter() + failed_writes_.load(std::memory_order_relaxed);
}

void AlertLog::flush() { logger_->flush(); }

}  // namespace smtp::daemon
