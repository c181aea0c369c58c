#include "daemon/sense/user_flags.hpp"

#include "text/json.hpp"

#include <algorithm>

namespace smtp::daemon {

void UserFlags::expire(Clock::time_point now) {
  while (!expiry_.empty() && expiry_.begin()->first <= now) {
    flags_.erase(expiry_.begin()->second);
    expiry_.erase(expiry_.begin());
  }
}

void UserFlags::flag(const std::string& user, const std::string& type, std::chrono::milliseconds ttl,
                     const std::string& sensor) {
  const auto now = Clock::now();
  const auto until = now + std::chrono::duration_cast<Clock::duration>(ttl);
  std::lock_guard lock(mutex_);
  expire(now);
  if (auto it = flags_.find(user); it != flags_.end()) {
    expiry_.erase({it->second.expires, user});
    it->second.expires = std::max(it->second.expires, until);
    ++it->second.count;
    expiry_.emplace(it->second.expires, user);
    return;
  }
  while (flags_.size() >= max_entries_ && !expiry_.empty()) {  // the soonest to expire makes room
    flags_.erase(expiry_.begin()->second);
    expiry_.erase(expiry_.begin());
  }
  flags_.emplace(user, UserFlag{user, type, now, until, 1, sensor});
  expiry_.emplace(until, user);
}

std::vector<UserFlag> UserFlags::page(std::size_t offset, std::size_t limit) {
  std::lock_guard lock(mutex_);
  expire(Clock::now());
  std::vector<const UserFlag*> all;
  all.reserve(flags_.size());
  for (const auto& [_, f] : flags_) all.push_back(&f);
  std::sort(all.begin(), all.end(), [](const UserFlag* a, const UserFlag* b) { return a->user < b->user; });
  std::vector<UserFlag> out;
  for (std::size_t i = offset; i < all.size() && out.size() < limit; ++i) out.push_back(*all[i]);
  return out;
}

std::size_t UserFlags::size() {
  std::lock_guard lock(mutex_);
  expire(Clock::now());
  return flags_.size();
}

void UserFlags::set_max_entries(std::size_t n) {
  std::lock_guard lock(mutex_);
  max_entries_ = n;
}

void UserFlags::append_json(std::string& out, const std::vector<UserFlag>& flags) {
  using text::json_string;
  for (const auto& f : flags) {
    if (out.size() > 1) out += ',';
    out += "{\"user\":" + json_string(f.user) + ",\"type\":" + json_string(f.type) + ",\"since\":" +
           json_string(text::iso8601_utc(f.since)) + ",\"expires\":" + json_string(text::iso8601_utc(f.expires)) +
           ",\"count\":" + std::to_string(f.count) + ",\"action\":\"flag\",\"sensor\":" + json_string(f.sensor) + "}";
  }
}

}  // namespace smtp::daemon
