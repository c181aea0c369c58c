// The alert log (SPEC section 6): one JSON object a line, tail-able, rotated by size.
#pragma once

#include "config/config.hpp"
#include "daemon/log_throttle.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class async_logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace smtp::daemon {

struct Alert {
  std::chrono::system_clock::time_point ts;
  std::string type;  // a detector name from SPEC section 2
  std::string severity = "warning";
  std::string ip;
  std::string listener;
  std::uint64_t lcid = 0;
  std::uint64_t count = 0;
  std::uint64_t threshold = 0;
  std::int64_t window_s = 0;
  std::string action;  // flag | block
  std::string detail;
  std::vector<std::string> users;  // usernames tried; never a password
  std::vector<std::string> ips;    // the clients counted (distributed_bruteforce, user_many_ips): the first 20
  std::uint64_t ips_more = 0;      // how many more were counted than `ips` lists
  std::string sensor;              // this sensor's name (sensor_name()); empty: the host name
  std::string id;                  // unique across restarts and sensors; empty: next_alert_id() when written
};

inline constexpr std::size_t kAlertIpsListed = 20;

// gethostname(), read once.
const std::string& host_name();
// This sensor's name in alerts, flags and the fleet (SPEC 10): sensor.name, else the host name.
std::string sensor_name(const config::Sensor& s);
// "<sensor>-<16 hex digits>": a counter seeded from the clock in microseconds at start, so
// that no two alerts of one sensor share an id, across restarts too.
std::string next_alert_id(std::string_view sensor);

// The keys, in this order: ts type severity ip listener lcid count threshold window_s
// action detail users ips ips_more sensor id. ips and ips_more are always written.
std::string to_json(const Alert& a);

class AlertLog {
 public:
  explicit AlertLog(const config::Alerts& cfg);  // throws spdlog::spdlog_ex on a bad path
  ~AlertLog();
  void write(const Alert& a);
  // Lines the queue overran, and writes the file refused (a full disk).
  std::uint64_t dropped() const;
  void flush();

 private:
  std::atomic<std::uint64_t> failed_writes_{0};
  LogThrottle error_log_{std::chrono::minutes(1)};  // the file's refusals, said at most once a minute
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::async_logger> logger_;
};

}  // namespace smtp::daemon
