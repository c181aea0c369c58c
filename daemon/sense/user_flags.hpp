// Flagged users (SPEC 15): accounts that user_many_ips, outbound_rejections or an outbound
// compromised_account named. Shown on /flagged as {"user": ...}; never blocks anything.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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

// The fleet's key of a per-user alert (SPEC 10, shared counts): `user:TYPE:NAME` in the
// shared_flags table, which no IP or network parses as, so a sensor's flag table (and an
// older binary's) ignores the row. One row per detector and account claims its alert.
std::string user_alert_key(std::string_view type, std::string_view user);
// (type, user) of such a key; nullopt for an address or network.
std::optional<std::pair<std::string, std::string>> parse_user_alert_key(std::string_view key);

// At most max_entries users (flag.max_entries, like the IP table): when full, the flag
// that expires soonest is dropped. One mutex: users are flagged at alert rate.
class UserFlags {
 public:
  explicit UserFlags(std::size_t max_entries) : max_entries_(max_entries) {}
  // Flags the user until now + ttl (a repeat extends it and bumps the count).
  void flag(const std::string& user, const std::string& type, std::chrono::milliseconds ttl, const std::string& sensor);
  // A flag another sensor of the fleet raised (shown with its name); keeps this sensor's
  // own entry, only extending it.
  void apply_remote(const UserFlag& f);
  // Whether the fleet (this sensor included) has an alert of `type` for `user` that has not
  // expired: a per-user detector reaching its threshold again only adds to the count.
  bool alerted(std::string_view type, const std::string& user);
  void mark_alerted(std::string_view type, const std::string& user, std::chrono::system_clock::time_point until);
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
  // "TYPE\nUSER" -> until when; at most max_entries_ (expired ones go first when full).
  std::unordered_map<std::string, Clock::time_point> alerted_;
};

}  // namespace smtp::daemon
