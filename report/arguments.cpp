#include "report/arguments.hpp"

namespace smtp::report {

const std::string_view kReportUsage = R"(usage: smtp-sensor report [-c FILE | --store PATH] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
         [--step hour|day|week|month|quarter] [--mode trend|domain|user|ip] [--domain D]
         [--sort COLUMN] [--asc|--desc] [--top N] [--format table|csv|json] [--tz ZONE]
  Defaults: the last 7 days up to today, --step day, --mode trend, --format table,
  --tz the server's local zone, --store the store.path of -c FILE.
)";

Arguments parse_arguments(const std::vector<std::string_view>& args) {
  Arguments a;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--asc" || arg == "--desc") {
      a.input.order = std::string(arg.substr(2));
      continue;
    }
    std::optional<std::string>* slot = nullptr;
    std::string* path = nullptr;
    if (arg == "-c" || arg == "--config") path = &a.config;
    else if (arg == "--store") path = &a.store;
    else if (arg == "--from") slot = &a.input.from;
    else if (arg == "--to") slot = &a.input.to;
    else if (arg == "--step") slot = &a.input.step;
    else if (arg == "--mode") slot = &a.input.mode;
    else if (arg == "--domain") slot = &a.input.domain;
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
