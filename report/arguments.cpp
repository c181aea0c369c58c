#include "report/arguments.hpp"

namespace smtp::report {

const std::string_view kReportUsage = R"(usage: smtp-sensor report [-c FILE | --store PATH] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
         [--step hour|day|week|month|quarter] [--mode trend|domain|user|ip] [--domain D]
         [--direction in|out|both] [--listener NAME]
         [--sort COLUMN] [--asc|--desc] [--top N] [--format table|csv|json] [--tz ZONE]
         [--csv-raw] [--bom] [--fleet [--fleet-url URI] [--sensor NAME]...]
  --fleet reads the fleet database (fleet.url of -c FILE, or --fleet-url) instead of
  the local store: every sensor's sessions, or those of each --sensor NAME; --mode
  sensor (fleet only) gives one row per sensor and period.
  Defaults: the last 7 days up to today, --step day, --mode trend, --format table,
  --tz the server's local zone, --store the store.path of -c FILE, both directions.
  --direction in: the sessions of inbound listeners ("SMTP In"); out: of outbound ones
  ("SMTP Out"), where --mode user is the sender and --mode ip the remote server.
  --listener NAME: one listener's sessions.
  CSV: a cell starting with = + - @ tab or CR (a formula to a spreadsheet) gets a
  leading ' so that it opens as text; --csv-raw keeps every cell as stored. --bom
  starts the output with a UTF-8 byte order mark (for Excel on Windows).
)";

Arguments parse_arguments(const std::vector<std::string_view>& args) {
  Arguments a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--asc" || arg == "--desc") {
      a.input.order = std::string(arg.substr(2));
      continue;
    }
    if (arg == "--fleet") {
      a.input.fleet.emplace(1, '1');  // not = "1": GCC 12 warns (-Wrestrict) on that at -O3
      continue;
    }
    if (arg == "--csv-raw" || arg == "--bom") {
      (arg == "--bom" ? a.input.bom : a.input.csv_raw).emplace(1, '1');
      continue;
    }
    std::optional<std::string>* slot = nullptr;
    std::string* path = nullptr;
    if (arg == "--sensor") {
      if (i + 1 >= args.size()) throw QueryError("--sensor needs a value");
      a.input.sensors.emplace_back(args[++i]);
      continue;
    }
    if (arg == "-c" || arg == "--config") path = &a.config;
    else if (arg == "--fleet-url") path = &a.fleet_url;
    else if (arg == "--store") path = &a.store;
    else if (arg == "--from") slot = &a.input.from;
    else if (arg == "--to") slot = &a.input.to;
    else if (arg == "--step") slot = &a.input.step;
    else if (arg == "--mode") slot = &a.input.mode;
    else if (arg == "--domain") slot = &a.input.domain;
    else if (arg == "--direction") slot = &a.input.direction;
    else if (arg == "--listener") slot = &a.input.listener;
    else if (arg == "--sort") slot = &a.input.sort;
    else if (arg == "--top") slot = &a.input.top;
    else if (arg == "--format") slot = &a.input.format;
    else if (arg == "--tz") slot = &a.input.tz;
    else throw QueryError("unknown option '" + std::string(arg) + "' (see smtp-sensor report --help)");
    if (i + 1 >= args.size()) throw QueryError(std::string(arg) + " needs a value");
    const std::string value(args[++i]);
    if (path) *path = value;
    else *slot = value;
  }
  return a;
}

}  // namespace smtp::report
