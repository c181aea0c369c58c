// Shared flags and shared counts as the fleet database holds them (SPEC 10): the flag
// row, the event's COPY line and the hex bytea read back. Pure, tested without a server.
#pragma once

#include "detect/detector_event.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtp::fleet {

// One row of shared_flags (fleet/schema.cpp, migration 2), in wall-clock milliseconds.
struct SharedFlag {
  std::string key;     // FlagKey::text(): "192.0.2.7", "2001:db8::/64"
  std::string type;    // the detector that raised it, or "manual"
  std::string sensor;  // the sensor that raised it
  std::int64_t since_ms = 0;
  std::int64_t expires_ms = 0;
  bool block = false;
  bool manual = false;
  std::string reason;
  std::uint64_t count = 0;
  bool removed = false;  // `flags remove` on some sensor: a tombstone until pruned
};

// The shared_events columns in COPY order.
inline constexpr const char* kEventColumns = "sensor, ts_ms, kind, ip, usr";

// Appends one event as a COPY text line: the key as bytea hex (\\x + 32 digits), the user
// cut to detect::kMaxSharedUser bytes and made valid UTF-8.
void append_event_row(std::string& out, std::string_view sensor, const detect::DetectorEvent& e);

// The event of a row read back (columns ts_ms, kind, encode(ip, 'hex'), usr); nullopt
// for a kind this release does not know or a key that is not 16 bytes.
std::optional<detect::DetectorEvent> decode_event(std::string_view ts_ms, std::string_view kind, std::string_view ip_hex,
                                                  std::string_view user);

}  // namespace smtp::fleet
