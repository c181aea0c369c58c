// The alert log (SPEC section 6): one JSON object a line, tail-able, rotated by size.
#pragma once

#include "config/config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
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
};

std::string to_json(const Alert& a);

class AlertLog {
 public:
  explicit AlertLog(const config::Alerts& cfg);  // throws spdlog::spdlog_ex on a bad path
  ~AlertLog();
  void write(const Alert& a);
  std::uint64_t dropped() const;
  void flush();

 private:
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::async_logger> logger_;
};

}  // namespace smtp::daemon
