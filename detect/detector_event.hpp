// What the detectors count, as one compact record: what another sensor of the fleet
// shares so that this sensor's windows hold the whole fleet's events (SPEC 10).
#pragma once

#include "detect/ip_set.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace smtp::detect {

// One value per Engine entry point that counts into a window. The numbers are stored in
// the fleet database (shared_events.kind): append, never renumber.
enum class EventKind : std::uint8_t {
  connection = 1,
  message = 2,
  auth_success = 3,
  auth_failure = 4,
  auth_unadvertised = 5,
  bad_command = 6,
  recipient_unknown = 7,  // recipient_enumeration
  relay_refused = 8,      // relay_probe
  vrfy_expn = 9,
  rejection = 10,  // outbound_rejections: the user is the sender, the ip the local client
  // A message on an outbound listener: counted as `message`, but an outbound
  // compromised_account is per account (the ip is the local MTA), so the fleet's claim is too.
  outbound_message = 11,
};
inline constexpr std::uint8_t kMaxEventKind = 11;

std::optional<EventKind> event_kind(int stored);

// The client key after the prefix grouping (addresses.ipv4_prefix / ipv6_prefix), the
// user (empty when the event has none), and the wall-clock time in milliseconds.
struct DetectorEvent {
  EventKind kind = EventKind::connection;
  IpBytes ip{};
  std::string user;
  std::int64_t ts_ms = 0;
};

// Usernames are cut to this many bytes before they are shared: a bound on what a peer's
// AUTH line can make every sensor store.
inline constexpr std::size_t kMaxSharedUser = 256;

}  // namespace smtp::detect
