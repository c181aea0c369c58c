#include "daemon/fleet_command.hpp"

#include "config/config_loader.hpp"
#include "daemon/cli.hpp"
#include "fleet/fleet_report.hpp"
#include "fleet/pg.hpp"
#include "fleet/schema.hpp"
#include "report/query.hpp"

#include <cstdio>
#include <iostream>
#include <string>

namespace smtp::daemon {
namespace {

constexpr std::string_view kFleetUsage = R"(usage: smtp-sensor fleet init [--url URI | -c FILE] [--password-file FILE]
  Creates the fleet database's tables, or upgrades them to this smtp-sensor's schema
  version, under an advisory lock (sensors may be running). The URL is a libpq
  connection URI; -c FILE takes fleet.url and fleet.password_file from the config.
  Without a password file, libpq's own PGPASSWORD, PGPASSFILE or ~/.pgpass apply.
)";

}  // namespace

int fleet_command(const std::vector<std::string_view>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kFleetUsage;
    return args.empty() ? kUsageError : 0;
  }
  if (args[0] != "init") {
    std::cerr << "smtp-sensor fleet: unknown command '" << args[0] << "'\n" << kFleetUsage;
    return kUsageError;
  }
  std::string url, config_path, password_file;
  const auto parsed = parse_options({args.begin() + 1, args.end()},
                                    {{"--url", "", "a URI", &url},
                                     {"-c", "--config", "a FILE", &config_path},
                                     {"--password-file", "", "a FILE", &password_file}});
  if (parsed.help) {
    std::cout << kFleetUsage;
    return 0;
  }
  if (!parsed.error.empty()) return usage_error("smtp-sensor fleet init", parsed.error, kFleetUsage);
  if (!config_path.empty()) {
    try {
      const auto cfg = config::load_config_file(config_path);
      if (url.empty()) url = cfg.fleet.url;
      if (password_file.empty()) password_file = cfg.fleet.password_file;
    } catch (const config::ConfigErrors& e) {
      for (const auto& err : e.errors()) std::cerr << err.text() << "\n";
      return 2;
    }
  }
  if (url.empty()) {
    std::cerr << "smtp-sensor fleet init: no URL (--url URI, or fleet.url in -c FILE)\n";
    return 2;
  }
  if (const auto bad = fleet::check_url(url)) {
    std::cerr << "smtp-sensor fleet init: --url: " << *bad << "\n";
    return 2;
  }
  try {
    fleet::ConnectInfo info{url, password_file.empty() ? std::string() : fleet::read_password_file(password_file)};
    info.application_name = "smtp-sensor fleet init";
    fleet::Connection db(info);
    const auto out = fleet::ensure_schema(db);
    if (out.before == out.after)
      std::cout << "fleet schema at " << fleet::describe_url(url) << " is current (version " << out.after << ")\n";
    else
      std::cout << "fleet schema at " << fleet::describe_url(url) << " upgraded from version " << out.before << " to "
                << out.after << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "smtp-sensor fleet init: " << fleet::describe_url(url) << ": " << e.what() << "\n";
    return 1;
  }
}

int fleet_report_command(const report::Arguments& a) {
  std::string url = a.fleet_url, password_file;
  if (!a.config.empty()) {
    try {
      const auto cfg = config::load_config_file(a.config);
      if (url.empty()) url = cfg.fleet.url;
      password_file = cfg.fleet.password_file;
    } catch (const config::ConfigErrors& e) {
      for (const auto& err : e.errors()) std::cerr << err.text() << "\n";
      return 2;
    }
  }
  try {
    if (url.empty()) throw report::StoreUnavailable("no fleet database: give --fleet-url URI, or -c FILE with fleet.url");
    if (const auto bad = fleet::check_url(url)) throw report::QueryError("--fleet-url: " + *bad);
    const auto query = report::parse_query(a.input, report::Syntax::cli, report::Format::table);
    fleet::ConnectInfo info{url, password_file.empty() ? std::string() : fleet::read_password_file(password_file)};
    info.application_name = "smtp-sensor report";
    std::cout.flush();
    fleet::write_fleet_report(info, query, query.sensors,
                              [](std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); });
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "smtp-sensor report: " << (url.empty() ? "" : fleet::describe_url(url) + ": ") << e.what() << "\n";
    return 2;
  }
}

}  // namespace smtp::daemon
