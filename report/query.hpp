// What a report asks for (SPEC section 8): range, step, mode, drill-down, order, format
// and zone, parsed from the command line or GET /report's query string, then checked.
#pragma once

#include <date/date.h>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::report {

enum class Step { hour, day, week, month, quarter };
// sensor: one row per sensor and period, for the fleet report only (SPEC 10).
enum class Mode { trend, domain, user, ip, sensor };
enum class Format { table, csv, json };
// SPEC 14: the sessions of inbound listeners ("SMTP In"), of outbound ones ("SMTP Out"), or both.
enum class Direction { both, in, out };
enum class Column {
  period,
  key,
  new_connections,
  blocked_connections,
  bad_commands,
  terminations,
  bandwidth_bytes,
  messages,
  connections_per_message
};

// A request the user can correct: exit 2 on the command line, 400 over HTTP.
struct QueryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// No store to read (none configured, missing, unreadable): exit 2, or 503 over HTTP.
struct StoreUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The parameters as given, unchecked; an absent or empty value takes the default.
struct QueryInput {
  std::optional<std::string> from, to, step, mode, domain, sort, order, top, format, tz, direction, listener;
  // CSV only: "1" keeps cells as stored (csv_raw), starts the text with a UTF-8 BOM (bom).
  std::optional<std::string> csv_raw, bom;
  // SPEC 10: "1" reads the fleet database; sensors narrows it (repeatable).
  std::optional<std::string> fleet;
  std::vector<std::string> sensors;
};

// Only changes how error messages name the options ("--from" or "from=").
enum class Syntax { cli, http };

struct Query {
  date::year_month_day from{}, to{};  // inclusive dates in zone
  Step step = Step::day;
  Mode mode = Mode::trend;
  std::optional<std::string> domain;
  Direction direction = Direction::both;
  std::optional<std::string> listener;  // one listener's sessions (by name)
  Column sort = Column::period;
  bool descending = false;
  std::optional<std::size_t> top;
  Format format = Format::json;
  std::string zone;  // IANA name (or "UTC") the periods are cut in
  // CSV only. A text cell starting with = + - @ tab or CR is a formula to a spreadsheet:
  // it gets a leading ' (OWASP, CSV injection) unless csv_raw. bom: a UTF-8 BOM first.
  bool csv_raw = false;
  bool bom = false;
  // SPEC 10: the whole fleet's sessions (the fleet database) instead of this sensor's,
  // narrowed to these sensors when any are named. Mode sensor needs fleet.
  bool fleet = false;
  std::vector<std::string> sensors;
};

// Checks input and fills defaults: to = today in the zone, from = to - 6 days, step
// day, mode trend, sort period (ascending for period and key, else descending), zone
// = the server's local one. Throws QueryError.
Query parse_query(const QueryInput& input, Syntax syntax, Format default_format);

// Splits a URL query string (decoding %XX and '+'); unknown names are a QueryError.
QueryInput parse_url_query(std::string_view query);

// The key column's name in mode ("" for trend), and every column's name in order.
std::string_view key_name(Mode mode);
std::vector<std::string> column_names(Mode mode);

std::string_view to_string(Step step);
std::string_view to_string(Mode mode);
std::string_view to_string(Direction direction);
std::string_view to_string(Column column, Mode mode);

}  // namespace smtp::report
