// Time zones from the system's tz database (Howard Hinnant's date, the basis of C++20's
// <chrono> zones, which GCC 12 lacks).
#pragma once

#include <date/tz.h>

#include <string>

namespace smtp::report {

// The zone called name ("UTC" or an IANA name such as "Europe/Berlin"), or nullptr.
const date::time_zone* find_zone(const std::string& name);

// The server's own zone: $TZ when it names a known zone, else /etc/localtime, else UTC.
std::string local_zone_name();

}  // namespace smtp::report
