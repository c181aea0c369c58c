// The one list of detectors: names, YAML keys, defaults, severity and what each counts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

// Everything else about a detector (DetectorId, the Detectors members, the loader's and the
// printer's keys, alert severities, the engine's quiet slots) is derived from this list.
// Columns:
//   id            the name, as in the YAML and in alerts
//   threshold_key YAML key of Detector::threshold, "" when it has none
//   ratio_key     YAML key of Detector::ratio, "" when it has none
//   windowed      whether it takes a `window` key
//   enabled, action, window, threshold, ratio: the defaults
//   severity      warning | critical, as written in alerts
//   counts        ip | user: the key whose state holds its window and quiet period;
//                 occurrence: one protocol anomaly of the same name is enough, no state;
//                 session: the session's dispatcher decides, at most once per session, no state
// Append only where possible: the order is the order of the printed config.
#define SMTP_SENSOR_DETECTORS(X)                                                                                      \
  X(auth_bruteforce, "failures", "", true, true, flag, 10min, 5, 0, warning, ip)                                    \
  X(auth_unadvertised, "attempts", "", true, true, flag, 1h, 1, 0, warning, ip)                                     \
  X(password_spray, "distinct_users", "", true, true, flag, 1h, 5, 0, warning, ip)                                  \
  X(distributed_bruteforce, "distinct_ips", "", true, true, flag, 1h, 10, 0, warning, user)                         \
  X(connection_ratio, "min_connections", "max_ratio", true, true, flag, 10min, 20, 10, warning, ip)                 \
  X(bad_commands, "count", "", true, true, flag, 10min, 10, 0, warning, ip)                                         \
  X(pregreet, "", "", false, true, flag, 0s, 0, 0, warning, occurrence)                                             \
  X(smuggling, "", "", false, true, flag, 0s, 0, 0, critical, occurrence)                                           \
  X(starttls_injection, "", "", false, true, flag, 0s, 0, 0, critical, occurrence)                                  \
  X(compromised_account, "min_messages", "factor", true, true, flag, 1h, 50, 5, warning, user)                      \
  X(auth_success_after_failures, "failures", "", true, true, flag, 1h, 3, 0, critical, ip)                          \
  X(user_many_ips, "distinct_ips", "", true, true, flag, 1h, 5, 0, warning, user)                                   \
  X(recipient_enumeration, "rejected", "", true, true, flag, 10min, 20, 0, warning, ip)                             \
  X(relay_probe, "attempts", "", true, true, flag, 1h, 3, 0, warning, ip)                                           \
  X(vrfy_expn, "count", "", true, true, flag, 10min, 5, 0, warning, ip)                                             \
  X(non_smtp, "", "", false, true, flag, 0s, 0, 0, warning, session)                                                \
  X(early_pipelining, "", "", false, true, flag, 0s, 0, 0, warning, session)                                       \
  X(outbound_rejections, "rejections", "", true, true, flag, 1h, 20, 0, warning, user)

namespace smtp::config {

enum class DetectorId : std::uint8_t {
#define SMTP_SENSOR_DETECTOR_ENUM(id, ...) id,
  SMTP_SENSOR_DETECTORS(SMTP_SENSOR_DETECTOR_ENUM)
#undef SMTP_SENSOR_DETECTOR_ENUM
};

inline constexpr std::size_t kDetectorCount = 0
#define SMTP_SENSOR_DETECTOR_COUNT(...) +1
    SMTP_SENSOR_DETECTORS(SMTP_SENSOR_DETECTOR_COUNT)
#undef SMTP_SENSOR_DETECTOR_COUNT
    ;

enum class Counts : std::uint8_t { ip, user, occurrence, session };

// The longest window a detector takes (SPEC 15): its state stays bounded whatever the window.
inline constexpr std::int64_t kMaxWindowSeconds = 7 * 24 * 3600;

// What the loader, the printer and the engine need to know about one detector.
struct DetectorInfo {
  DetectorId id;
  std::string_view name;
  std::string_view threshold_key;  // empty: none
  std::string_view ratio_key;      // empty: none
  bool windowed;
  std::string_view severity;
  Counts counts;
};

inline constexpr std::array<DetectorInfo, kDetectorCount> kDetectors{{
#define SMTP_SENSOR_DETECTOR_INFO(id, tkey, rkey, windowed, enabled, action, window, threshold, ratio, severity, counts) \
  {DetectorId::id, #id, tkey, rkey, windowed, #severity, Counts::counts},
    SMTP_SENSOR_DETECTORS(SMTP_SENSOR_DETECTOR_INFO)
#undef SMTP_SENSOR_DETECTOR_INFO
}};

constexpr const DetectorInfo& info(DetectorId id) { return kDetectors[static_cast<std::size_t>(id)]; }

// The detectors whose alert names an account and never flags or blocks an address (SPEC 15):
// their `action` has nothing to act on, so the loader refuses `block` and the printer
// leaves the key out (`action: flag` is still read, as older configs have it).
constexpr bool acts_on_accounts_only(DetectorId id) {
  return id == DetectorId::user_many_ips || id == DetectorId::outbound_rejections;
}
constexpr std::string_view to_string(DetectorId id) { return info(id).name; }

constexpr std::optional<DetectorId> detector_named(std::string_view name) {
  for (const auto& d : kDetectors)
    if (d.name == name) return d.id;
  return std::nullopt;
}

// Where a detector's quiet period sits among those of its key (IpState or UserState).
constexpr std::size_t quiet_slot(DetectorId id) {
  std::size_t slot = 0;
  for (const auto& d : kDetectors) {
    if (d.id == id) return slot;
    slot += d.counts == info(id).counts;
  }
  return slot;
}
constexpr std::size_t quiet_slots(Counts counts) {
  std::size_t n = 0;
  for (const auto& d : kDetectors) n += d.counts == counts;
  return n;
}

}  // namespace smtp::config
