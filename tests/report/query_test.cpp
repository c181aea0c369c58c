// Query parsing and checking: defaults, the errors a user can make, URL decoding,
// command-line options and period labels.
#include "fixture.hpp"
#include "report/arguments.hpp"
#include "report/periods.hpp"

using namespace smtp::report;
using report_test::query;

namespace {

std::string error_of(const std::string& q, Syntax syntax = Syntax::http) {
  try {
    parse_query(parse_url_query(q), syntax, Format::json);
  } catch (const QueryError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<std::string> labels(const std::string& q) {
  std::vector<std::string> out;
  for (const auto& p : make_periods(query(q))) out.push_back(p.label);
  return out;
}

}  // namespace

TEST_CASE("defaults: the last seven days by day, trend, json, sorted by period") {
  const auto q = query("tz=UTC");
  CHECK((date::sys_days{q.to} - date::sys_days{q.from}).count() == 6);
  const auto today = date::floor<date::days>(std::chrono::system_clock::now());
  CHECK(date::sys_days{q.to} == today);
  CHECK(q.step == Step::day);
  CHECK(q.mode == Mode::trend);
  CHECK(q.format == Format::json);
  CHECK(q.sort == Column::period);
  CHECK_FALSE(q.descending);
  CHECK_FALSE(q.domain);
  CHECK_FALSE(q.top);
  // A counter sorts the biggest first unless told otherwise.
  CHECK(query("tz=UTC&sort=messages").descending);
  CHECK_FALSE(query("tz=UTC&sort=messages&order=asc").descending);
  CHECK_FALSE(query("tz=UTC&mode=user&sort=user").descending);
  // Empty values (an empty form field) count as not given.
  CHECK_FALSE(query("tz=UTC&domain=&top=&sort=").domain);
}

TEST_CASE("errors name the option and what would be accepted") {
  CHECK(error_of("from=2026-11-23&to=2026-11-22&tz=UTC") == "empty range: from=2026-11-23 is after to=2026-11-22");
  CHECK(error_of("from=2026-11-23&to=2026-11-22&tz=UTC", Syntax::cli) ==
        "empty range: --from 2026-11-23 is after --to 2026-11-22");
  CHECK(error_of("from=2026-02-30&tz=UTC") == "bad date '2026-02-30' for from=: use YYYY-MM-DD");
  CHECK(error_of("to=2026-1-5&tz=UTC") == "bad date '2026-1-5' for to=: use YYYY-MM-DD");
  CHECK(error_of("to=yesterday&tz=UTC", Syntax::cli) == "bad date 'yesterday' for --to: use YYYY-MM-DD");
  CHECK(error_of("sort=volume&tz=UTC") ==
        "unknown column 'volume' for sort= in trend mode: use period, new_connections, blocked_connections, "
        "bad_commands, terminations, bandwidth_bytes, messages, connections_per_message");
  CHECK(error_of("sort=domain&tz=UTC").find("unknown column 'domain'") == 0);  // trend has no key column
  CHECK(error_of("sort=user&mode=domain&tz=UTC").find("unknown column 'user' for sort= in domain mode: use period, domain,") == 0);
  CHECK(error_of("step=year&tz=UTC") == "unknown step 'year' for step=: use hour, day, week, month, quarter");
  CHECK(error_of("mode=sender&tz=UTC") == "unknown mode 'sender' for mode=: use trend, domain, user, ip, sensor");
  CHECK(error_of("format=xml&tz=UTC") == "unknown format 'xml' for format=: use table, csv, json");
  CHECK(error_of("order=up&tz=UTC") == "unknown order 'up': use asc or desc");
  CHECK(error_of("top=0&tz=UTC") == "bad number '0' for top=: use a whole number of rows, 1 or more");
  CHECK(error_of("top=5x&tz=UTC").find("bad number '5x'") == 0);
  CHECK(error_of("tz=Mars/Olympus") ==
        "unknown time zone 'Mars/Olympus' for tz=: use UTC or an IANA name such as Europe/Berlin");
  CHECK(error_of("from=2025-01-01&to=2026-03-01&step=hour&tz=UTC") == "range too long: 425 days; --step hour takes at most 400 days");
  CHECK(error_of("stpe=hour") ==
        "unknown parameter 'stpe': use from, to, step, mode, domain, direction, listener, sort, order, top, tz, format, "
        "csv_raw, bom, fleet, sensor");
  CHECK(error_of("direction=outbound&tz=UTC") == "unknown direction 'outbound' for direction=: use both, in, out");
  CHECK(error_of("direction=up&tz=UTC", Syntax::cli) == "unknown direction 'up' for --direction: use both, in, out");
  CHECK(error_of("listener=" + std::string(300, 'x') + "&tz=UTC") == "listener name too long for listener=: at most 255 bytes");
  CHECK(error_of("from=2026%2") == "bad %-escape in the query string");
  // SPEC 10: mode sensor and sensor= narrow the fleet, and need it.
  CHECK(error_of("mode=sensor&tz=UTC") == "mode=sensor is for the fleet report: add fleet=");
  CHECK(error_of("mode=sensor&tz=UTC", Syntax::cli) == "--mode sensor is for the fleet report: add --fleet");
  CHECK(error_of("sensor=mx1&tz=UTC") == "sensor= is for the fleet report: add fleet=");
  CHECK(error_of("fleet=1&mode=sensor&sensor=mx1&sensor=mx2&tz=UTC") == "(no error)");
}

TEST_CASE("fleet= and repeated sensor= reach the query") {
  const auto q = parse_query(parse_url_query("fleet=1&sensor=mx1&sensor=&sensor=mx2&mode=sensor&tz=UTC"), Syntax::http,
                             Format::json);
  CHECK(q.fleet);
  CHECK(q.mode == Mode::sensor);
  CHECK(q.sensors == std::vector<std::string>{"mx1", "mx2"});
  CHECK_FALSE(parse_query(parse_url_query("fleet=0&tz=UTC"), Syntax::http, Format::json).fleet);
}

TEST_CASE("quarter steps need whole quarters, and say which") {
  CHECK(error_of("from=2026-11-02&to=2026-11-30&step=quarter&tz=UTC") ==
        "step=quarter needs whole quarters: use from=2026-10-01 to=2026-12-31");
  CHECK(error_of("from=2026-01-01&to=2026-05-31&step=quarter&tz=UTC", Syntax::cli) ==
        "--step quarter needs whole quarters: use --from 2026-01-01 --to 2026-06-30");
  CHECK(error_of("from=2026-04-01&to=2026-09-30&step=quarter&tz=UTC") == "(no error)");
  CHECK(labels("from=2025-10-01&to=2026-06-30&step=quarter&tz=UTC") == std::vector<std::string>{"2025-Q4", "2026-Q1", "2026-Q2"});
}

TEST_CASE("URL query strings decode %XX and '+'") {
  const auto in = parse_url_query("domain=o%27brien+%26+co.example&tz=America%2FNew_York&sort=key");
  CHECK(*in.domain == "o'brien & co.example");
  CHECK(*in.tz == "America/New_York");
  CHECK(*in.sort == "key");
  CHECK_FALSE(in.from);
}

TEST_CASE("command-line options") {
  const auto a = parse_arguments({"--store", "/tmp/s.db", "--from", "2026-10-01", "--to", "2026-12-31", "--step", "quarter",
                                  "--mode", "user", "--domain", "a.example", "--sort", "messages", "--asc", "--top", "5",
                                  "--format", "csv", "--tz", "UTC", "-c", "/etc/x.yaml"});
  CHECK(a.store == "/tmp/s.db");
  CHECK(a.config == "/etc/x.yaml");
  const auto q = parse_query(a.input, Syntax::cli, Format::table);
  CHECK(q.step == Step::quarter);
  CHECK(q.mode == Mode::user);
  CHECK(*q.domain == "a.example");
  CHECK(q.sort == Column::messages);
  CHECK_FALSE(q.descending);
  CHECK(*q.top == 5);
  CHECK(q.format == Format::csv);
  CHECK(q.direction == Direction::both);  // the default: both directions, every listener
  CHECK_FALSE(q.listener);
  CHECK(parse_query(parse_arguments({"--tz", "UTC"}).input, Syntax::cli, Format::table).format == Format::table);
  const auto out = parse_query(parse_arguments({"--direction", "out", "--listener", "out25", "--tz", "UTC"}).input, Syntax::cli,
                               Format::table);
  CHECK(out.direction == Direction::out);
  CHECK(*out.listener == "out25");
  CHECK(query("direction=in&listener=&tz=UTC").direction == Direction::in);
  CHECK_FALSE(query("direction=in&listener=&tz=UTC").listener);  // empty counts as absent, as every parameter
  CHECK_THROWS_WITH_AS(parse_arguments({"--form", "2026-01-01"}), "unknown option '--form' (see smtp-sensor report --help)",
                       QueryError);
  CHECK_THROWS_WITH_AS(parse_arguments({"--from"}), "--from needs a value", QueryError);
  CHECK_THROWS_WITH_AS(parse_arguments({"sensor.yaml"}), "unexpected argument 'sensor.yaml' (did you mean -c sensor.yaml?)",
                       QueryError);
}

TEST_CASE("period labels: days, ISO weeks cut to the range, months, hours with their offset") {
  CHECK(labels("from=2026-12-30&to=2027-01-02&tz=UTC") ==
        std::vector<std::string>{"2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"});
  // 2027-01-01 is a Friday of ISO week 2026-W53.
  CHECK(labels("from=2026-12-27&to=2027-01-05&step=week&tz=UTC") ==
        std::vector<std::string>{"2026-W52", "2026-W53", "2027-W01"});
  CHECK(labels("from=2026-01-15&to=2026-03-02&step=month&tz=UTC") == std::vector<std::string>{"2026-01", "2026-02", "2026-03"});
  const auto ny = labels("from=2026-11-01&to=2026-11-01&step=hour&tz=America/New_York");
  REQUIRE(ny.size() == 25);
  CHECK(ny[1] == "2026-11-01T01:00-04:00");
  CHECK(ny[2] == "2026-11-01T01:00-05:00");
  const auto p = make_periods(query("from=2026-11-24&to=2026-11-24&tz=Europe/Berlin"));
  REQUIRE(p.size() == 1);
  CHECK(p[0].begin_ms == report_test::utc(2026, 11, 23, 23));
  CHECK(p[0].end_ms == report_test::utc(2026, 11, 24, 23));
}

TEST_CASE("a missing or foreign store is StoreUnavailable, never created") {
  const auto dir = std::filesystem::temp_directory_path() / ("report-missing-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto missing = (dir / "nope.db").string();
  CHECK_THROWS_AS(run_report(missing, query("tz=UTC")), StoreUnavailable);
  CHECK_FALSE(std::filesystem::exists(missing));
  CHECK_THROWS_WITH_AS(run_report("", query("tz=UTC")), "no session store configured: give --store PATH or -c FILE",
                       StoreUnavailable);
  const auto foreign = (dir / "notes.txt").string();
  std::ofstream(foreign) << "not a database, just text that is long enough to not be one\n";
  CHECK_THROWS_AS(run_report(foreign, query("tz=UTC")), StoreUnavailable);
  std::filesystem::remove_all(dir);
}

TEST_CASE("CSV options: --csv-raw and --bom, csv_raw= and bom=, for CSV only") {
  const auto a = parse_arguments({"--format", "csv", "--csv-raw", "--bom", "--tz", "UTC"});
  const auto q = parse_query(a.input, Syntax::cli, Format::table);
  CHECK(q.csv_raw);
  CHECK(q.bom);
  const auto d = parse_query(parse_arguments({"--format", "csv", "--tz", "UTC"}).input, Syntax::cli, Format::table);
  CHECK_FALSE(d.csv_raw);
  CHECK_FALSE(d.bom);
  CHECK_THROWS_WITH_AS(parse_query(parse_arguments({"--bom", "--tz", "UTC"}).input, Syntax::cli, Format::table),
                       "--bom applies to --format csv only", QueryError);
  CHECK_THROWS_WITH_AS(parse_query(parse_arguments({"--csv-raw", "--format", "json", "--tz", "UTC"}).input, Syntax::cli,
                                   Format::table),
                       "--csv-raw applies to --format csv only", QueryError);
  const auto h = parse_query(parse_url_query("format=csv&csv_raw=1&bom=1&tz=UTC"), Syntax::http, Format::json);
  CHECK(h.csv_raw);
  CHECK(h.bom);
  const auto off = parse_query(parse_url_query("format=csv&csv_raw=0&bom=0&tz=UTC"), Syntax::http, Format::json);
  CHECK_FALSE(off.csv_raw);
  CHECK_FALSE(off.bom);
  CHECK_THROWS_WITH_AS(parse_query(parse_url_query("format=csv&bom=yes&tz=UTC"), Syntax::http, Format::json),
                       "bad value 'yes' for bom=: use 1 or 0", QueryError);
  CHECK_THROWS_WITH_AS(parse_query(parse_url_query("csv_raw=1&tz=UTC"), Syntax::http, Format::json),
                       "csv_raw=1 applies to format=csv only", QueryError);
}
