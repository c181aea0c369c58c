// Flagged IPs: who, why, since when, until when; feeds /flagged, the gauge and blocking.
#pragma once

#include "daemon/asio.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace smtp::daemon {

struct FlagEntry {
  std::string ip;
  std::string type;  // the detector that flagged it first
  std::chrono::system_clock::time_point since;
  std::chrono::system_clock::time_point expires;
  std::uint64_t count = 0;  // alerts and repeats for this IP while flagged
  bool block = false;       // action: block — new connections get the block reply
};

class FlagTable {
 public:
  // Returns true when the IP was not flagged by `type` before (a new alert is due);
  // false means a repeat within the TTL, which only bumps the count.
  bool flag(const std::string& ip, const std::string& type, std::chrono::milliseconds ttl, bool block);
  // Checked at accept for every connection: one lock, one hash lookup.
  bool blocked(const asio::ip::address& ip);
  std::vector<FlagEntry> snapshot();
  std::size_t size();
  std::string json();  // GET /flagged: a JSON array of the active flags

 private:
  void expire(std::chrono::system_clock::time_point now);
  std::mutex mutex_;
  // Keyed by "ip" for blocking and by "type|ip" for alert suppression.
  std::unordered_map<std::string, FlagEntry> by_ip_;
  std::unordered_map<std::string, std::chrono::system_clock::time_point> by_type_ip_;
  std::chrono::system_clock::time_point next_sweep_{};
};

}  // namespace smtp::daemon
