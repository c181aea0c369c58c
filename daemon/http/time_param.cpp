#include "daemon/http/time_param.hpp"

#include <charconv>
#include <chrono>
#include <sstream>
#include <string>

namespace smtp::daemon {
namespace {

using std::chrono::milliseconds;

// date::parse takes one digit where two are due and a sign before a year, so each form's
// shape is checked first ('D' a digit, 'S' a sign, anything else itself); date::parse
// then checks the values (February 30th, 24:00, an offset of 24 hours are refused).
bool fits(std::string_view text, std::string_view shape) {
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok = shape[i] == 'D' ? c >= '0' && c <= '9' : shape[i] == 'S' ? c == '+' || c == '-' : c == shape[i];
    if (!ok) return false;
  }
  return true;
}

struct Form {
  std::string_view shape;
  const char* format;
};
// Milliseconds (".mmm") are cut off before date::parse and added after: parsing them
// there trips GCC 12's maybe-uninitialized inside date.h at -O3.
constexpr Form kClocks[] = {{"DDDD-DD-DDTDD:DD", "%FT%R"}, {"DDDD-DD-DDTDD:DD:DD", "%FT%T"}};

// date::parse of the whole text against one format; false when it fails or leaves bytes.
template <class... Out>
bool whole(const std::string& text, const std::string& format, Out&... out) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  in >> date::parse(format, out...);
  return !in.fail() && in.peek() == std::char_traits<char>::eof();
}

std::int64_t count(date::sys_time<milliseconds> t) { return t.time_since_epoch().count(); }

}  // namespace

std::optional<std::int64_t> parse_time_param(std::string_view v, const date::time_zone& zone, bool end) {
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t n = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || n > kMaxTimeParam) return std::nullopt;
    return n;
  }
  if (fits(v, "DDDD-DD-DD")) {
    date::local_days day;
    if (!whole(std::string(v), "%F", day)) return std::nullopt;
    return count(zone.to_sys(date::local_seconds{day + date::days{end ? 1 : 0}}, date::choose::earliest));
  }
  // What follows the clock: nothing (local time in zone), Z, or an offset.
  std::string_view suffix;
  if (v.ends_with('Z')) suffix = v.substr(v.size() - 1);
  else if (v.size() > 6 && fits(v.substr(v.size() - 6), "SDD:DD")) suffix = v.substr(v.size() - 6);
  if (suffix.size() == 6 && suffix[4] > '5') return std::nullopt;  // %Ez reads +01:60 as two hours
  std::string clock(v.substr(0, v.size() - suffix.size()));
  if (clock.size() > 10 && clock[10] == ' ') clock[10] = 'T';
  milliseconds fraction{};
  if (fits(clock, "DDDD-DD-DDTDD:DD:DD.DDD")) {
    fraction = milliseconds{(clock[20] - '0') * 100 + (clock[21] - '0') * 10 + (clock[22] - '0')};
    clock.resize(19);
  }
  for (const auto& form : kClocks) {
    if (!fits(clock, form.shape)) continue;
    date::local_seconds local;
    std::chrono::minutes offset{};
    if (suffix.size() == 6) {
      clock.append(suffix);
      if (!whole(clock, std::string(form.format) + "%Ez", local, offset) || std::chrono::abs(offset) >= std::chrono::hours{24})
        return std::nullopt;
    } else if (!whole(clock, form.format, local)) {
      return std::nullopt;
    }
    const date::local_time<milliseconds> at = local + fraction;
    if (suffix.empty()) return count(zone.to_sys(at, date::choose::earliest));
    return (at.time_since_epoch() - offset).count();
  }
  return std::nullopt;
}

}  // namespace smtp::daemon
