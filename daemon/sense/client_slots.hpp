// How many sessions each client holds open on one listener, for max_connections_per_client.
#pragma once

#include "detect/engine.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace smtp::daemon {

// One per listener, shared by its sessions on every I/O thread. A client is an address
// grouped by `addresses` (a /64 is one IPv6 client by default), the key the detectors
// use: an attacker with a prefix of its own gets no more slots than one address. Only
// clients with a session open have an entry, so the map is bounded by the listener's
// max_connections. Taken once when a session is admitted and given back once when it
// closes: a lock twice per session, against a session's dozens of system calls.
class ClientSlots {
 public:
  // One more session for `client` unless it already holds `limit`.
  bool take(const detect::IpBytes& client, std::uint32_t limit);
  void give_back(const detect::IpBytes& client);

  std::size_t clients() const;  // with at least one session open
  std::uint32_t held(const detect::IpBytes& client) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<detect::IpBytes, std::uint32_t, detect::IpHash, detect::IpEqual> open_;
};

}  // namespace smtp::daemon
