// Flagged users (SPEC 15): accounts that user_many_ips, outbound_rejections or an outbound
// compromised_account named. Shown on /flagged as {"user": ...}; never blocks anything.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace smtp::daemon {

struct UserFlag {
  std::string user;
  std::string type;  // the detector that flagged it first
  std::chrono::system_clock::time_point since;
  std::chrono::system_clock::time_point expires;
  std::uint64_t count = 0;  // alerts for this user while flagged
  std::string sensor;       // the sensor that raised it
};

// At most max_entries users (flag.max_entries, like the IP table): when full, the flag
// that expires soonest is dropped. One mutex: users are flagged at alert rate.
class UserFlags {
 public:
  explicit UserFlags(std::size_t max_entries) : max_entries_(max_entries) {}
  // Flags the user until now + ttl (a repeat extends it and bumps the count).
  void flag(const std::string& user, const std::string& type, std::chrono::milliseconds ttl, const std::string& sensor);
  // The active flags in user order from offset, at most limit of them.
  std::vector<UserFlag> page(std::size_t offset, std::size_t limit);
  std::size_t size();
  void set_max_entries(std::size_t n);
  // Appends each as a /flagged object, comma-separated, to a JSON array being built.
  static void append_json(std::string& out, const std::vector<UserFlag>& flags);

 private:
  using Clock = std::chrono::system_clock;
  void expire(Clock::time_point now);

  std::size_t max_entries_;
  std::mutex mutex_;
  std::unordered_map<std::string, UserFlag> flags_;
  std::set<std::pair<Clock::time_point, std::string>> expiry_;
};

}  // namespace smtp::daemon
