#include "daemon/http/time_param.hpp"

#include <doctest/doctest.h>

#include <string>

using smtp::daemon::parse_time_param;

namespace {
const date::time_zone& utc() { return *date::locate_zone("UTC"); }
const date::time_zone& berlin() { return *date::locate_zone("Europe/Berlin"); }
constexpr std::int64_t kDec7 = 1796601600000;  // 2026-12-07T00:00:00Z
constexpr std::int64_t kHour = 3600000;
}  // namespace

TEST_CASE("Unix milliseconds, up to 2^50") {
  CHECK(parse_time_param("0", utc(), false) == 0);
  CHECK(parse_time_param("1796601600000", berlin(), true) == kDec7);
  CHECK(parse_time_param("1125899906842624", utc(), false) == std::int64_t{1} << 50);
  CHECK_FALSE(parse_time_param("1125899906842625", utc(), false));
  CHECK_FALSE(parse_time_param("99999999999999999999999", utc(), false));
  CHECK_FALSE(parse_time_param("", utc(), false));
}

TEST_CASE("a date is local midnight in the zone, and as an end the next one") {
  CHECK(parse_time_param("2026-12-07", utc(), false) == kDec7);
  CHECK(parse_time_param("2026-12-07", utc(), true) == kDec7 + 24 * kHour);
  CHECK(parse_time_param("2026-12-07", berlin(), false) == kDec7 - kHour);
  // The day summer time ends in Berlin has 25 hours.
  CHECK(*parse_time_param("2026-10-25", berlin(), true) - *parse_time_param("2026-10-25", berlin(), false) == 25 * kHour);
}

TEST_CASE("a date and time: local, Z, or an offset; 'T' or a space") {
  CHECK(parse_time_param("2026-12-07T10:11", utc(), false) == kDec7 + 10 * kHour + 11 * 60000);
  CHECK(parse_time_param("2026-12-07 10:11", berlin(), false) == kDec7 + 9 * kHour + 11 * 60000);
  CHECK(parse_time_param("2026-12-07T10:11:12Z", berlin(), false) == kDec7 + 10 * kHour + 11 * 60000 + 12000);
  CHECK(parse_time_param("2026-12-07T10:11:12.345Z", utc(), false) == kDec7 + 10 * kHour + 11 * 60000 + 12345);
  CHECK(parse_time_param("2026-12-07T10:11+01:30", utc(), false) == kDec7 + 10 * kHour + 11 * 60000 - 90 * 60000);
  CHECK(parse_time_param("2026-12-07T00:00:00.000-05:00", utc(), false) == kDec7 + 5 * kHour);
}

TEST_CASE("anything else is refused, trailing bytes and out-of-range values included") {
  for (const char* bad : {"yesterday", "2026-02-30", "2026-13-01", "2026-1-07", "+026-12-07", "2026-12-07x", "2026-12-07T",
                          "2026-12-07T24:00", "2026-12-07T10:60", "2026-12-07T1:11", "2026-12-07T10:11:1", "2026-12-07T10:11:1:Z",
                          "2026-12-07T10:11:12.3", "2026-12-07T10:11:12.3456", "2026-12-07T10:11+1:00", "2026-12-07T10:11+24:00",
                          "2026-12-07T10:11+01:60", "2026-12-07T10:11Z+01:00", "2026-12-07T10:11 Z", "2026-12-07T10:11z",
                          "2026-12-07 T10:11", "-1", " 5", "5 ", "0x10", "2026-12-07\n"}) {
    CHECK_MESSAGE(!parse_time_param(bad, utc(), false), std::string(bad));
  }
}
