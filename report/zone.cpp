#include "report/zone.hpp"

#include <cstdlib>

namespace smtp::report {

const date::time_zone* find_zone(const std::string& name) {
  if (name.empty()) return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::string local_zone_name() {
  if (const char* tz = std::getenv("TZ"); tz && *tz) {
    std::string name(tz[0] == ':' ? tz + 1 : tz);
    // TZ=/usr/share/zoneinfo/Europe/Berlin names the file; the zone is what follows.
    if (const auto at = name.find("zoneinfo/"); at != std::string::npos) name = name.substr(at + 9);
    if (find_zone(name)) return name;
  }
  try {
    return std::string(date::current_zone()->name());
  } catch (const std::exception&) {
    return "UTC";
  }
}

}  // namespace smtp::report
