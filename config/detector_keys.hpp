// Which YAML keys each detector takes, shared by the loader and the printer.
#pragma once

#include "config/config.hpp"

#include <string_view>

namespace smtp::config {

// Which YAML keys each detector takes; Detector keeps them in generic fields.
struct DetectorKeys {
  std::string_view name;
  Detector Detectors::*member;
  std::string_view threshold;  // empty: none
  std::string_view ratio;      // empty: none
  bool window;
};
inline constexpr DetectorKeys kDetectorKeys[] = {
    {"auth_bruteforce", &Detectors::auth_bruteforce, "failures", "", true},
    {"auth_unadvertised", &Detectors::auth_unadvertised, "attempts", "", true},
    {"password_spray", &Detectors::password_spray, "distinct_users", "", true},
    {"distributed_bruteforce", &Detectors::distributed_bruteforce, "distinct_ips", "", true},
    {"connection_ratio", &Detectors::connection_ratio, "min_connections", "max_ratio", true},
    {"bad_commands", &Detectors::bad_commands, "count", "", true},
    {"pregreet", &Detectors::pregreet, "", "", false},
    {"smuggling", &Detectors::smuggling, "", "", false},
    {"starttls_injection", &Detectors::starttls_injection, "", "", false},
    {"compromised_account", &Detectors::compromised_account, "min_messages", "factor", true},
};

}  // namespace smtp::config
