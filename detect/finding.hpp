// What a detector concludes, and the one rule that turns a reached threshold into an alert or a repeat.
#pragma once

#include "config/config.hpp"
#include "detect/ip_set.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::detect {

using config::DetectorId;

// What a detector concluded; the sensor turns it into an alert line and a flag.
struct Finding {
  std::string_view type;  // the detector's name, as in the config
  std::uint64_t count = 0;
  std::uint64_t threshold = 0;
  std::int64_t window_s = 0;
  config::Action action = config::Action::flag;
  std::string detail;
  std::vector<std::string> users;  // usernames involved; never a password
  std::vector<IpBytes> ips;        // every client key counted, for the detectors that count clients per user
  bool described = false;          // the full alert; false for a repeat within the quiet period
  DetectorId id{};
  std::string_view severity;  // "warning" or "critical", from SMTP_SENSOR_DETECTORS
};
using Findings = std::vector<Finding>;

// A detector's window in whole seconds, at least one, as its sliding windows count it.
inline std::uint32_t window_seconds(const config::Detector& d) {
  return static_cast<std::uint32_t>(
      std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d.window).count()));
}

// A finding with what every alert of this detector carries, and no detail.
inline Finding bare_finding(DetectorId id, const config::Detector& d, std::uint64_t count) {
  Finding f;
  f.type = config::to_string(id);
  f.count = count;
  f.threshold = d.threshold;
  f.window_s = std::chrono::duration_cast<std::chrono::seconds>(d.window).count();
  f.action = d.action;
  f.id = id;
  f.severity = config::info(id).severity;
  return f;
}

// Once `count` reaches the threshold, the detector fires for its key: the first time, the
// full alert, which `describe(Finding&)` completes with detail and users; then it stays
// quiet for one window, because the alert is out and the flag only counts repeats, so a
// repeat carries no detail and no users and costs no allocation to build.
template <class Describe>
void alert_or_repeat(DetectorId id, const config::Detector& d, std::uint64_t count, std::uint32_t& quiet_until,
                     std::uint32_t now_s, Findings& out, Describe&& describe) {
  if (count < d.threshold) return;
  out.push_back(bare_finding(id, d, count));
  if (now_s < quiet_until) return;
  quiet_until = now_s + window_seconds(d);
  out.back().described = true;
  describe(out.back());
}

}  // namespace smtp::detect
