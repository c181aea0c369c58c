#include "daemon/sense/user_flags.hpp"

#include "detect/detector_event.hpp"
#include "text/json.hpp"

#include <algorithm>

namespace smtp::daemon {

std::string user_alert_key(std::string_view type, std::string_view user) {
  // PostgreSQL's text takes neither NUL nor invalid UTF-8, which a peer's AUTH name may
  // hold: each such byte becomes U+FFFD, as in the shared events' user.
  user = user.substr(0, detect::kMaxSharedUser);
  std::string key = "user:" + std::string(type) + ":";
  while (!user.empty()) {
    const std::size_t n = user[0] == '\0' ? 0 : text::utf8_sequence(user);
    if (n == 0) {
      key += "\xEF\xBF\xBD";
      user.remove_prefix(1);
    } else {
      key += user.substr(0, n);
      user.remove_prefix(n);
    }
  }
  return key;
}

std::optional<std::pair<std::string, std::string>> parse_user_alert_key(std::string_view key) {
  if (key.substr(0, 5) != "user:") return std::nullopt;
  key.remove_prefix(5);
  const auto colon = key.find(':');  // detector names have none; a user name may
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return std::make_pair(std::string(key.substr(0, colon)), std::string(key.substr(colon + 1)));
}

void UserFlags::apply_remote(const UserFlag& f) {
  const auto now = Clock::now();
  if (f.expires <= now) return;
  std::lock_guard lock(mutex_);
  expire(now);
  if (auto it = flags_.find(f.user); it != flags_.end()) {
    expiry_.erase({it->second.expires, f.user});
    it->second.expires = std::max(it->second.expires, f.expires);
    expiry_.emplace(it->second.expires, f.user);
    return;
  }
  while (flags_.size() >= max_entries_ && !expiry_.empty()) {
    flags_.erase(expiry_.begin()->second);
    expiry_.erase(expiry_.begin());
  }
  flags_.emplace(f.user, f);
  expiry_.emplace(f.expires, f.user);
}

bool UserFlags::alerted(std::string_view type, const std::string& user) {
  std::lock_guard lock(mutex_);
  const auto it = alerted_.find(std::string(type) + '\n' + user);
  return it != alerted_.end() && it->second > Clock::now();
}

void UserFlags::mark_alerted(std::string_view type, const std::string& user, Clock::time_point until) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  std::string key = std::string(type) + '\n' + user;
  if (auto it = alerted_.find(key); it != alerted_.end()) {
    it->second = std::max(it->second, until);
    return;
  }
  if (alerted_.size() >= max_entries_) {
    std::erase_if(alerted_, [now](const auto& kv) { return kv.second <= now; });
    if (alerted_.size() >= max_entries_) alerted_.erase(alerted_.begin());  // bounded: any one goes
  }
  alerted_.emplace(std::move(key), until);
}

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
