#include "daemon/sense/flag_table.hpp"

#include "daemon/address.hpp"
#include "text/json.hpp"

#include <algorithm>

namespace smtp::daemon {

using Clock = std::chrono::system_clock;

bool FlagTable::flag(const std::string& ip, const std::string& type, std::chrono::milliseconds ttl, bool block) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  expire(now);
  auto [it, fresh_ip] = by_ip_.try_emplace(ip);
  FlagEntry& e = it->second;
  if (!fresh_ip && e.expires <= now) e = FlagEntry{};  // expired, not yet swept: start over
  if (e.ip.empty()) {
    e.ip = ip;
    e.type = type;
    e.since = now;
  }
  ++e.count;
  e.expires = std::max(e.expires, now + ttl);
  e.block = e.block || block;
  auto [t, fresh_type] = by_type_ip_.try_emplace(type + "|" + ip, now + ttl);
  if (!fresh_type && t->second <= now) {  // expired, not yet swept
    t->second = now + ttl;
    return true;
  }
  return fresh_type;
}

bool FlagTable::blocked(const asio::ip::address& ip) {
  std::lock_guard lock(mutex_);
  if (by_ip_.empty()) return false;
  const auto it = by_ip_.find(unmapped(ip).to_string());  // flags are keyed by the plain form
  return it != by_ip_.end() && it->second.block && it->second.expires > Clock::now();
}

std::vector<FlagEntry> FlagTable::snapshot() {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  expire(now);
  std::vector<FlagEntry> out;
  out.reserve(by_ip_.size());
  for (const auto& [ip, e] : by_ip_)
    if (e.expires > now) out.push_back(e);
  return out;
}

std::size_t FlagTable::size() {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  expire(now);
  return static_cast<std::size_t>(std::count_if(by_ip_.begin(), by_ip_.end(), [&](const auto& kv) { return kv.second.expires > now; }));
}

void FlagTable::expire(Clock::time_point now) {
  // A sweep is O(entries); once a second is plenty for TTLs counted in minutes.
  if (now < next_sweep_) return;
  next_sweep_ = now + std::chrono::seconds(1);
  std::erase_if(by_ip_, [&](const auto& kv) { return kv.second.expires <= now; });
  std::erase_if(by_type_ip_, [&](const auto& kv) { return kv.second <= now; });
}

std::string FlagTable::json() {
  using text::json_string;
  std::string out = "[";
  for (const auto& e : snapshot()) {
    if (out.size() > 1) out += ',';
    out += "{\"ip\":" + json_string(e.ip) + ",\"type\":" + json_string(e.type) + ",\"since\":" +
           json_string(text::iso8601_utc(e.since)) + ",\"expires\":" + json_string(text::iso8601_utc(e.expires)) +
           ",\"count\":" + std::to_string(e.count) + ",\"action\":" + json_string(e.block ? "block" : "flag") + "}";
  }
  return out + "]\n";
}

}  // namespace smtp::daemon
