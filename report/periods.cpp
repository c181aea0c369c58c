#include "report/periods.hpp"

#include "report/zone.hpp"

#include <date/iso_week.h>
#include <fmt/format.h>

#include <algorithm>

namespace smtp::report {
namespace {

using date::days;
using date::local_days;
using date::sys_days;
using date::year_month_day;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// A local midnight that does not exist (a DST jump at 00:00) starts at the jump.
std::int64_t midnight_ms(const date::time_zone* zone, local_days day) {
  const auto t = zone->to_sys(date::local_seconds{day}, date::choose::earliest);
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::string day_label(year_month_day d) {
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                     static_cast<unsigned>(d.day()));
}

// Local hours from begin to end. The offset in each label tells the two 02:00 hours of a
// DST change apart; a transition inside an hour (Lord Howe's 30 minutes) cuts it in two.
void hours_between(const date::time_zone* zone, std::int64_t begin_ms, std::int64_t end_ms, std::vector<Period>& out) {
  std::int64_t t = begin_ms;
  while (t < end_ms) {
    const date::sys_seconds now{seconds{t / 1000}};
    const auto info = zone->get_info(now);
    const auto local = now + info.offset;
    const auto hour = date::floor<hours>(local);
    const std::int64_t to_next = std::chrono::duration_cast<milliseconds>(hour + hours{1} - local).count();
    std::int64_t next = std::min(t + to_next, end_ms);
    next = std::min<std::int64_t>(next, std::chrono::duration_cast<milliseconds>(info.end.time_since_epoch()).count());
    const auto ymd = year_month_day{date::floor<days>(hour)};
    const auto hh = date::make_time(hour - date::floor<days>(hour)).hours().count();
    const auto off = std::chrono::duration_cast<minutes>(info.offset).count();
    const auto abs_off = off < 0 ? -off : off;
    out.push_back({fmt::format("{}T{:02}:00{}{:02}:{:02}", day_label(ymd), hh, off < 0 ? '-' : '+', abs_off / 60, abs_off % 60),
                   t, next});
    t = next;
  }
}

}  // namespace

std::vector<Period> make_periods(const Query& q) {
  const auto* zone = find_zone(q.zone);
  if (!zone) throw QueryError("unknown time zone '" + q.zone + "'");
  std::vector<Period> out;
  const local_days first{sys_days{q.from}.time_since_epoch()};
  const local_days end{(sys_days{q.to} + days{1}).time_since_epoch()};
  if (q.step == Step::hour) {
    hours_between(zone, midnight_ms(zone, first), midnight_ms(zone, end), out);
    return out;
  }
  local_days day = first;
  while (day < end) {
    const year_month_day ymd{day};
    local_days next;
    std::string label;
    switch (q.step) {
      case Step::day:
        next = day + days{1};
        label = day_label(ymd);
        break;
      case Step::week: {
        const iso_week::year_weeknum_weekday w{day};
        next = day + days{8 - static_cast<unsigned>(w.weekday())};  // the next Monday
        label = fmt::format("{:04}-W{:02}", static_cast<int>(w.year()), static_cast<unsigned>(w.weeknum()));
        break;
      }
      case Step::month:
        next = local_days{year_month_day{ymd.year() / ymd.month() / 1} + date::months{1}};
        label = fmt::format("{:04}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()));
        break;
      case Step::quarter:
      case Step::hour: {
        const unsigned qn = (static_cast<unsigned>(ymd.month()) - 1) / 3;
        next = local_days{year_month_day{ymd.year() / date::month{qn * 3 + 1} / 1} + date::months{3}};
        label = fmt::format("{:04}-Q{}", static_cast<int>(ymd.year()), qn + 1);
        break;
      }
    }
    next = std::min(next, end);
    out.push_back({std::move(label), midnight_ms(zone, day), midnight_ms(zone, next)});
    day = next;
  }
  return out;
}

}  // namespace smtp::report
