#include "daemon/sense/client_slots.hpp"

namespace smtp::daemon {

bool ClientSlots::take(const detect::IpBytes& client, std::uint32_t limit) {
  std::lock_guard lock(mutex_);
  auto& held = open_[client];
  if (held < limit) return ++held, true;
  if (held == 0) open_.erase(client);  // a limit of 0 (callers pass 1 or more) leaves no entry
  return false;
}

void ClientSlots::give_back(const detect::IpBytes& client) {
  std::lock_guard lock(mutex_);
  const auto it = open_.find(client);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

std::size_t ClientSlots::clients() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

std::uint32_t ClientSlots::held(const detect::IpBytes& client) const {
  std::lock_guard lock(mutex_);
  const auto it = open_.find(client);
  return it == open_.end() ? 0 : it->second;
}

}  // namespace smtp::daemon
