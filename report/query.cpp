#include "report/query.hpp"

#include "text/url_query.hpp"

#include "report/zone.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <fmt/format.h>

namespace smtp::report {
namespace {

constexpr std::array kSteps{"hour", "day", "week", "month", "quarter"};
constexpr std::array kModes{"trend", "domain", "user", "ip", "sensor"};
constexpr std::array kFormats{"table", "csv", "json"};
constexpr std::array kDirections{"both", "in", "out"};
// A listener's name, as the config gives it, is short; a longer one names none.
constexpr std::size_t kMaxListenerName = 255;
constexpr std::array kCounterNames{"new_connections", "blocked_connections", "bad_commands",           "terminations",
                                   "bandwidth_bytes", "messages",            "connections_per_message"};
// Hour steps are cut into at most this many days (9,600 periods); other steps into ten years.
constexpr int kMaxHourDays = 400;
constexpr int kMaxDays = 3660;

std::string option(Syntax syntax, std::string_view name) {
  return syntax == Syntax::cli ? fmt::format("--{}", name) : fmt::format("{}=", name);
}

std::string show(Syntax syntax, std::string_view name, std::string_view value) {
  return syntax == Syntax::cli ? fmt::format("--{} {}", name, value) : fmt::format("{}={}", name, value);
}

template <std::size_t N>
std::size_t pick(const std::array<const char*, N>& names, const std::string& value, Syntax syntax, std::string_view what) {
  for (std::size_t i = 0; i < N; ++i)
    if (value == names[i]) return i;
  throw QueryError(fmt::format("unknown {} '{}' for {}: use {}", what, value, option(syntax, what),
                               fmt::join(names.begin(), names.end(), ", ")));
}

std::string format_date(const date::year_month_day& d) {
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                     static_cast<unsigned>(d.day()));
}

date::year_month_day parse_date(const std::string& s, Syntax syntax, std::string_view name) {
  auto bad = [&] { return QueryError(fmt::format("bad date '{}' for {}: use YYYY-MM-DD", s, option(syntax, name))); };
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') throw bad();
  int y = 0;
  unsigned m = 0, d = 0;
  auto num = [&](std::size_t at, std::size_t len, auto& out) {
    const auto r = std::from_chars(s.data() + at, s.data() + at + len, out);
    if (r.ec != std::errc{} || r.ptr != s.data() + at + len) throw bad();
  };
  num(0, 4, y);
  num(5, 2, m);
  num(8, 2, d);
  const date::year_month_day ymd{date::year{y}, date::month{m}, date::day{d}};
  if (!ymd.ok() || y < 1970) throw bad();
  return ymd;
}

bool has(const std::optional<std::string>& v) { return v && !v->empty(); }

// SPEC 10: the modes from sensor on are the fleet report's. The command line, where the mode
// is typed, answers an unknown one with the modes the local report takes and names the
// rest apart; over HTTP (the page offers sensor only with the fleet) every mode is listed.
Mode pick_mode(const std::string& value, Syntax syntax, bool fleet) {
  if (fleet || syntax == Syntax::http) return static_cast<Mode>(pick(kModes, value, syntax, "mode"));
  const auto found = std::find(kModes.begin(), kModes.end(), value);
  if (found != kModes.end()) return static_cast<Mode>(found - kModes.begin());
  const auto fleet_only = kModes.begin() + static_cast<std::size_t>(Mode::sensor);
  throw QueryError(fmt::format("unknown mode '{}' for {}: use {} or {} ({} with {})", value, option(syntax, "mode"),
                               fmt::join(kModes.begin(), fleet_only - 1, ", "), *(fleet_only - 1),
                               fmt::join(fleet_only, kModes.end(), ", "), option(syntax, "fleet")));
}


}  // namespace

std::string_view to_string(Step step) { return kSteps[static_cast<std::size_t>(step)]; }
std::string_view to_string(Mode mode) { return kModes[static_cast<std::size_t>(mode)]; }
std::string_view to_string(Direction direction) { return kDirections[static_cast<std::size_t>(direction)]; }

std::string_view key_name(Mode mode) { return mode == Mode::trend ? std::string_view{} : to_string(mode); }

std::string_view to_string(Column column, Mode mode) {
  if (column == Column::period) return "period";
  if (column == Column::key) return key_name(mode);
  return kCounterNames[static_cast<std::size_t>(column) - static_cast<std::size_t>(Column::new_connections)];
}

std::vector<std::string> column_names(Mode mode) {
  std::vector<std::string> out{"period"};
  if (mode != Mode::trend) out.emplace_back(key_name(mode));
  for (const char* n : kCounterNames) out.emplace_back(n);
  return out;
}

Query parse_query(const QueryInput& in, Syntax syntax, Format default_format) {
  Query q;
  q.format = default_format;
  if (has(in.format)) q.format = static_cast<Format>(pick(kFormats, *in.format, syntax, "format"));
  if (has(in.step)) q.step = static_cast<Step>(pick(kSteps, *in.step, syntax, "step"));
  q.fleet = has(in.fleet) && *in.fleet != "0";
  if (has(in.mode)) q.mode = pick_mode(*in.mode, syntax, q.fleet);
  if (has(in.domain)) q.domain = *in.domain;
  if (has(in.direction)) q.direction = static_cast<Direction>(pick(kDirections, *in.direction, syntax, "direction"));
  if (has(in.listener)) {
    if (in.listener->size() > kMaxListenerName)
      throw QueryError(fmt::format("listener name too long for {}: at most {} bytes", option(syntax, "listener"),
                                   kMaxListenerName));
    q.listener = *in.listener;
  }
  q.sensors = in.sensors;
  if (!q.fleet && !q.sensors.empty())
    throw QueryError(fmt::format("{} is for the fleet report: add {}", option(syntax, "sensor"), option(syntax, "fleet")));
  if (!q.fleet && q.mode == Mode::sensor)
    throw QueryError(fmt::format("{}{}sensor is for the fleet report: add {}", option(syntax, "mode"),
                                 syntax == Syntax::cli ? " " : "", option(syntax, "fleet")));

  q.zone = has(in.tz) ? *in.tz : local_zone_name();
  const auto* zone = find_zone(q.zone);
  if (!zone)
    throw QueryError(fmt::format("unknown time zone '{}' for {}: use UTC or an IANA name such as Europe/Berlin", q.zone,
                                 option(syntax, "tz")));

  if (has(in.to)) {
    q.to = parse_date(*in.to, syntax, "to");
  } else {
    const auto local = date::make_zoned(zone, std::chrono::system_clock::now()).get_local_time();
    q.to = date::year_month_day{date::floor<date::days>(local)};
  }
  q.from = has(in.from) ? parse_date(*in.from, syntax, "from") : date::year_month_day{date::sys_days{q.to} - date::days{6}};
  if (date::sys_days{q.from} > date::sys_days{q.to})
    throw QueryError(fmt::format("empty range: {} is after {}", show(syntax, "from", format_date(q.from)),
                                 show(syntax, "to", format_date(q.to))));
  const auto days = (date::sys_days{q.to} - date::sys_days{q.from}).count() + 1;
  if (q.step == Step::hour && days > kMaxHourDays)
    throw QueryError(fmt::format("range too long: {} days; --step hour takes at most {} days", days, kMaxHourDays));
  if (days > kMaxDays) throw QueryError(fmt::format("range too long: {} days; at most {}", days, kMaxDays));
  if (q.step == Step::quarter) {
    const auto first = [](date::year_month_day d) {
      const unsigned m = (static_cast<unsigned>(d.month()) - 1) / 3 * 3 + 1;
      return date::year_month_day{d.year() / date::month{m} / 1};
    };
    const auto last = [&](date::year_month_day d) {
      const auto f = first(d);
      return date::year_month_day{date::year_month_day_last{f.year() / (f.month() + date::months{2}) / date::last}};
    };
    if (q.from != first(q.from) || q.to != last(q.to))
      throw QueryError(fmt::format("{} needs whole quarters: use {} {}", show(syntax, "step", "quarter"),
                                   show(syntax, "from", format_date(first(q.from))),
                                   show(syntax, "to", format_date(last(q.to)))));
  }

  if (has(in.sort)) {
    const auto& s = *in.sort;
    bool found = false;
    if (s == "period") q.sort = Column::period, found = true;
    else if (q.mode != Mode::trend && (s == "key" || s == key_name(q.mode))) q.sort = Column::key, found = true;
    for (std::size_t i = 0; !found && i < kCounterNames.size(); ++i)
      if (s == kCounterNames[i]) q.sort = static_cast<Column>(i + static_cast<std::size_t>(Column::new_connections)), found = true;
    if (!found) {
      const auto names = column_names(q.mode);
      throw QueryError(fmt::format("unknown column '{}' for {} in {} mode: use {}", s, option(syntax, "sort"),
                                   to_string(q.mode), fmt::join(names, ", ")));
    }
  }
  q.descending = q.sort != Column::period && q.sort != Column::key;
  if (has(in.order)) {
    if (*in.order == "asc") q.descending = false;
    else if (*in.order == "desc") q.descending = true;
    else throw QueryError(fmt::format("unknown order '{}': use asc or desc", *in.order));
  }
  auto flag = [&](const std::optional<std::string>& v, std::string_view name) {
    if (!has(v)) return false;
    if (syntax == Syntax::cli || *v == "1") {
      if (q.format != Format::csv)
        throw QueryError(fmt::format("{} applies to {} only", syntax == Syntax::cli ? option(syntax, name) : show(syntax, name, *v),
                                     show(syntax, "format", "csv")));
      return true;
    }
    if (*v == "0") return false;
    throw QueryError(fmt::format("bad value '{}' for {}: use 1 or 0", *v, option(syntax, name)));
  };
  q.csv_raw = flag(in.csv_raw, syntax == Syntax::cli ? "csv-raw" : "csv_raw");
  q.bom = flag(in.bom, "bom");
  if (has(in.top)) {
    std::size_t n = 0;
    const auto& t = *in.top;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), n);
    if (r.ec != std::errc{} || r.ptr != t.data() + t.size() || n == 0)
      throw QueryError(fmt::format("bad number '{}' for {}: use a whole number of rows, 1 or more", t, option(syntax, "top")));
    q.top = n;
  }
  return q;
}

QueryInput parse_url_query(std::string_view query) {
  QueryInput in;
  auto params = text::parse_query_string(query);
  if (!params) throw QueryError("bad %-escape in the query string");
  for (auto& [name, value] : *params) {
    std::optional<std::string>* slot = nullptr;
    if (name == "from") slot = &in.from;
    else if (name == "to") slot = &in.to;
    else if (name == "step") slot = &in.step;
    else if (name == "mode") slot = &in.mode;
    else if (name == "domain") slot = &in.domain;
    else if (name == "sort") slot = &in.sort;
    else if (name == "order") slot = &in.order;
    else if (name == "top") slot = &in.top;
    else if (name == "format") slot = &in.format;
    else if (name == "tz") slot = &in.tz;
    else if (name == "csv_raw") slot = &in.csv_raw;
    else if (name == "bom") slot = &in.bom;
    else if (name == "direction") slot = &in.direction;
    else if (name == "listener") slot = &in.listener;
    else if (name == "fleet") slot = &in.fleet;
    else if (name == "sensor") {
      if (!value.empty()) in.sensors.push_back(std::move(value));
      continue;
    } else throw QueryError(fmt::format(
        "unknown parameter '{}': use from, to, step, mode, domain, direction, listener, sort, order, top, tz, format, "
        "csv_raw, bom, fleet, sensor",
        name));
    *slot = std::move(value);
  }
  return in;
}

}  // namespace smtp::report
