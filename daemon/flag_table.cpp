#include "daemon/flag_table.hpp"

#include "daemon/address.hpp"

namespace smtp::daemon {

using Clock = std::chrono::system_clock;

bool FlagTable::flag(const std::string& ip, const std::string& type, std::chrono::milliseconds ttl, bool block) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  expire(now);
  auto [it, fresh_ip] = by_ip_.try_emplace(ip);
  FlagEntry& e = it->second;
  if (fresh_ip) {
    e.ip = ip;
    e.type = type;
    e.since = now;
  }
  ++e.count;
  e.expires = std::max(e.expires, now + ttl);
  e.block = e.block || block;
  auto [t, fresh_type] = by_type_ip_.try_emplace(type + "|" + ip, now + ttl);
  return fresh_type;
}

bool FlagTable::blocked(const asio::ip::address& ip) {
  std::lock_guard lock(mutex_);
  if (by_ip_.empty()) return false;
  const auto it = by_ip_.find(unmapped(ip).to_string());  // flags are keyed by the plain form
  return it != by_ip_.end() && it->second.block && it->second.expires > Clock::now();
}

std::vector<FlagEntry> FlagTable::snapshot() {
  std::lock_guard lock(mutex_);
  expire(Clock::now());
  std::vector<FlagEntry> out;
  out.reserve(by_ip_.size());
  for (const auto& [ip, e] : by_ip_) out.push_back(e);
  return out;
}

std::size_t FlagTable::size() {
  std::lock_guard lock(mutex_);
  expire(Clock::now());
  return by_ip_.size();
}

void FlagTable::expire(Clock::time_point now) {
  std::erase_if(by_ip_, [&](const auto& kv) { return kv.second.expires <= now; });
  std::erase_if(by_type_ip_, [&](const auto& kv) { return kv.second <= now; });
}

}  // namespace smtp::daemon
