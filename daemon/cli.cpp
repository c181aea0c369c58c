#include "daemon/cli.hpp"

#include "config/config_loader.hpp"
#include "daemon/server.hpp"
#include "daemon/relay/tls_context.hpp"
#include "report/arguments.hpp"
#include "report/format.hpp"
#include "report/report.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#ifndef SMTP_SENSOR_VERSION
#define SMTP_SENSOR_VERSION "dev"
#endif

namespace smtp::daemon {
namespace {

constexpr std::string_view kUsage = R"(usage:
  smtp-sensor run -c FILE            run the daemon in the foreground (also: smtp-sensor -c FILE)
  smtp-sensor check-config -c FILE   validate FILE and print the effective config
  smtp-sensor report [options]       the sessions report from the store (report --help)
  smtp-sensor --version | --help

Signals: SIGHUP reloads the config; SIGTERM and SIGINT drain and exit.
)";

// Every session needs two descriptors; the soft limit of 1024 would cap us near 500.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void setup_logging() {
  auto logger = spdlog::stderr_logger_mt("smtp-sensor");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
  spdlog::set_default_logger(logger);
  if (const char* level = std::getenv("SMTP_SENSOR_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(level));
}

int print_errors(const config::ConfigErrors& e) {
  for (const auto& err : e.errors()) std::cerr << err.text() << "\n";
  return 1;
}

int run(const std::string& path) {
  setup_logging();
  config::Config cfg;
  try {
    cfg = config::load_config_file(path);
  } catch (const config::ConfigErrors& e) {
    return print_errors(e);
  }
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  try {
    Server server(std::move(cfg));
    return server.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}

int check_config(const std::string& path) {
  try {
    const auto cfg = config::load_config_file(path);
    // The certificate and key are loaded as the daemon would, so a mismatched pair or a
    // bad PEM fails here rather than at start.
    for (const auto& l : cfg.listeners) {
      if (l.tls.mode != config::TlsMode::terminate) continue;
      try {
        TlsContexts check(l.tls);
      } catch (const std::exception& e) {
        std::cerr << path << ": listener '" << l.name << "': " << e.what() << "\n";
        return 1;
      }
    }
    std::cout << config::effective_yaml(cfg);
    return 0;
  } catch (const config::ConfigErrors& e) {
    return print_errors(e);
  }
}

int report_command(const std::vector<std::string_view>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << report::kReportUsage;
    return 0;
  }
  try {
    auto a = report::parse_arguments(args);
    if (a.store.empty() && !a.config.empty()) {
      try {
        a.store = config::load_config_file(a.config).store.path;
      } catch (const config::ConfigErrors& e) {
        print_errors(e);
        return 2;
      }
    }
    const auto query = report::parse_query(a.input, report::Syntax::cli, report::Format::table);
    std::cout.flush();
    report::write_report(a.store, query, [](std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); });
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    // Query and store errors alike: one line the operator can act on.
    std::cerr << "smtp-sensor report: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

int run_cli(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (args[0] == "--version" || args[0] == "-V") {
    std::cout << "smtp-sensor " << SMTP_SENSOR_VERSION << "\n";
    return 0;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (args[0] == "report") return report_command({args.begin() + 1, args.end()});
  std::string_view command = "run";
  std::size_t i = 0;
  if (args[0] == "run" || args[0] == "check-config") command = args[i++];
  std::string path;
  for (; i < args.size(); ++i) {
    if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) path = args[++i];
    else {
      std::cerr << "smtp-sensor: unexpected argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "smtp-sensor: -c FILE is required\n" << kUsage;
    return 2;
  }
  return command == "run" ? run(path) : check_config(path);
}

}  // namespace smtp::daemon
