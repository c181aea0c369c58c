// The UTC time units the store's roll-ups are keyed by (quarter hour, hour, day, ISO
// week, month),
// shared by the writer that builds them and the report that reads them.
#pragma once

#include <date/date.h>

#include <chrono>
#include <cstdint>

namespace smtp::store {

// Stored in the roll-up tables' `level` column: never renumber. Quarter hours are the
// finest unit because every zone's offset is a multiple of 15 minutes (India +5:30,
// Nepal +5:45), so any local period is made of whole quarter hours.
enum class Level : int { hour = 0, day = 1, week = 2, month = 3, quarter_hour = 4 };

inline constexpr std::int64_t kQuarterHour = 900;
inline constexpr std::int64_t kHour = 3600;
inline constexpr std::int64_t kDay = 86400;

// Unix seconds of a time in Unix milliseconds, rounded down (also before 1970).
inline std::int64_t floor_seconds(std::int64_t ms) { return ms >= 0 ? ms / 1000 : -((999 - ms) / 1000); }

// Start (Unix seconds, UTC) of the unit holding time t (Unix seconds).
inline std::int64_t unit_start(Level level, std::int64_t t) {
  auto floor_div = [](std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); };
  switch (level) {
    case Level::quarter_hour: return floor_div(t, kQuarterHour) * kQuarterHour;
    case Level::hour: return floor_div(t, kHour) * kHour;
    case Level::day: return floor_div(t, kDay) * kDay;
    case Level::week: {
      // 1970-01-01 was a Thursday; ISO weeks start on Monday (day 4 after the epoch).
      const std::int64_t d = floor_div(t, kDay);
      return (d - (((d + 3) % 7) + 7) % 7) * kDay;
    }
    case Level::month: {
      const date::sys_days day{date::days{floor_div(t, kDay)}};
      const date::year_month_day ymd{day};
      return date::sys_days{ymd.year() / ymd.month() / 1}.time_since_epoch().count() * kDay;
    }
  }
  return t;
}

// Start of the unit after the one that starts at start.
inline std::int64_t next_unit(Level level, std::int64_t start) {
  switch (level) {
    case Level::quarter_hour: return start + kQuarterHour;
    case Level::hour: return start + kHour;
    case Level::day: return start + kDay;
    case Level::week: return start + 7 * kDay;
    case Level::month: {
      const date::year_month_day ymd{date::sys_days{date::days{start / kDay}}};
      const auto next = (ymd.year() / ymd.month() / 1) + date::months{1};
      return date::sys_days{next}.time_since_epoch().count() * kDay;
    }
  }
  return start;
}

}  // namespace smtp::store
