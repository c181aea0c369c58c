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

namespace {

// Where the value of a query option goes; null when arg is none.
std::optional<std::string>* query_slot(QueryInput& in, std::string_view arg) {
  if (arg == "--from") return &in.from;
  if (arg == "--to") return &in.to;
  if (arg == "--step") return &in.step;
  if (arg == "--mode") return &in.mode;
  if (arg == "--domain") return &in.domain;
  if (arg == "--direction") return &in.direction;
  if (arg == "--listener") return &in.listener;
  if (arg == "--sort") return &in.sort;
  if (arg == "--top") return &in.top;
  if (arg == "--format") return &in.format;
  if (arg == "--tz") return &in.tz;
  return nullptr;
}

}  // namespace

Arguments parse_arguments(const std::vector<std::string_view>& args) {
  Arguments a;
  // The value after the option at i; `needs` names it as the usage does ("-c needs a FILE").
  auto value = [&](std::size_t& i, std::string_view needs) {
    if (i + 1 >= args.size()) throw QueryError(std::string(args[i]) + " needs " + std::string(needs));
    return std::string(args[++i]);
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--asc" || arg == "--desc") a.input.order = std::string(arg.substr(2));
    else if (arg == "--fleet") a.input.fleet.emplace(1, '1');  // not = "1": GCC 12 warns (-Wrestrict) on that at -O3
    else if (arg == "--csv-raw" || arg == "--bom") (arg == "--bom" ? a.input.bom : a.input.csv_raw).emplace(1, '1');
    else if (arg == "-c" || arg == "--config") a.config = value(i, "a FILE");
    else if (arg == "--fleet-url") a.fleet_url = value(i, "a URI");
    else if (arg == "--store") a.store = value(i, "a PATH");
    else if (arg == "--sensor") a.input.sensors.push_back(value(i, "a NAME"));
    else if (auto* slot = query_slot(a.input, arg)) *slot = value(i, "a value");
    else if (!arg.starts_with("-") && (arg.ends_with(".yaml") || arg.ends_with(".yml")))
      throw QueryError("unexpected argument '" + std::string(arg) + "' (did you mean -c " + std::string(arg) + "?)");
    else throw QueryError("unknown option '" + std::string(arg) + "' (see smtp-sensor report --help)");
  }
  return a;
}

}  // namespace smtp::report
