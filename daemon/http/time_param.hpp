// A time in an investigation endpoint's query (from=, to=, since=), read strictly by the
// date library: what the page sends, and what an administrator types into curl.
#pragma once

#include <date/tz.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace smtp::daemon {

// The latest Unix millisecond a time parameter may name (year 37648): beyond any store.
inline constexpr std::int64_t kMaxTimeParam = std::int64_t{1} << 50;

// Unix milliseconds, 0 to kMaxTimeParam; YYYY-MM-DD, local midnight in zone (as an end, the
// next midnight, so to= names the last day, as the report's does); or
// YYYY-MM-DDTHH:MM[:SS[.mmm]] ('T' or a space between) followed by Z, +HH:MM, -HH:MM or
// nothing (local time in zone). nullopt for anything else, trailing bytes included.
std::optional<std::int64_t> parse_time_param(std::string_view v, const date::time_zone& zone, bool end);

}  // namespace smtp::daemon
