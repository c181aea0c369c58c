#include "daemon/cli.hpp"

#include "config/config_loader.hpp"
#include "daemon/control/control_protocol.hpp"
#include "daemon/fleet_command.hpp"
#include "daemon/http/http_server.hpp"
#include "daemon/server.hpp"
#include "daemon/relay/tls_context.hpp"
#include "report/arguments.hpp"
#include "report/format.hpp"
#include "report/report.hpp"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#ifndef SMTP_SENSOR_VERSION
#define SMTP_SENSOR_VERSION "dev"
#endif

namespace smtp::daemon {
namespace {

constexpr std::string_view kCommands = R"(usage:
  smtp-sensor run -c FILE            run the daemon in the foreground (also: smtp-sensor -c FILE)
  smtp-sensor check-config -c FILE   validate FILE and print the effective config
  smtp-sensor report [options]       the sessions report from the store (report --help)
  smtp-sensor flags list [-c FILE]   the active flags of the running daemon
  smtp-sensor flags add IP|CIDR [--ttl 1h] [--action flag|block] [--reason TEXT] [-c FILE]
  smtp-sensor flags remove IP|CIDR [-c FILE]
                                     change them over control.socket (default
                                     /run/smtp-sensor/control.sock; -c FILE reads it)
  smtp-sensor fleet init [--url URI | -c FILE]
                                     create or upgrade the fleet database's schema
  smtp-sensor --version | --help
  (run and check-config take --help too)
)";

constexpr std::string_view kSignals = R"(
Signals: SIGHUP reloads the config; SIGTERM and SIGINT drain and exit.
)";

constexpr std::string_view kEnvironment = R"(
Environment:
  SMTP_SENSOR_LOG_LEVEL   the daemon's log level on stderr: trace, debug, info (the
                          default), warn, err, critical or off, in any case
  JOURNAL_STREAM          set by systemd: log lines then start with their syslog priority
                          (<3> error, <4> warning, <6> info, <7> debug) and carry no
                          timestamp, since journald adds its own
)";

constexpr std::string_view kRunUsage = "usage: smtp-sensor run -c FILE   (also: smtp-sensor -c FILE)\n";
constexpr std::string_view kRunHelp = R"(  Runs the daemon in the foreground with the config
  FILE (smtp-sensor.yaml(5)) and logs to stderr. The first log line names the version,
  the config file and the listeners.
  -c, --config FILE   the config; required
  -h, --help          this text
Exit status: 0 after a drain; 1 on an invalid config or a failure to start (such as a
port that cannot be bound); 2 on a usage error.
)";

constexpr std::string_view kCheckConfigUsage = "usage: smtp-sensor check-config -c FILE\n";
constexpr std::string_view kCheckConfigHelp = R"(  Validates FILE as run would load it, TLS
  certificates and keys included, and prints the effective config (every default filled
  in) on stdout. The errors, one a line, and warnings about a valid but risky config go
  to stderr.
  -c, --config FILE   the config to check; required
  -h, --help          this text
Exit status: 0 valid (warnings may be on stderr), 1 invalid, 2 on a usage error.
check-config logs nothing: SMTP_SENSOR_LOG_LEVEL is for run.
)";

// The config file of a package install. report reads it when given no store, config or
// fleet URL, as flags falls back to the default control socket.
constexpr std::string_view kDefaultConfig = "/etc/smtp-sensor/smtp-sensor.yaml";

// Every session needs two descriptors; the soft limit of 1024 would cap us near 500.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// systemd sets JOURNAL_STREAM when stderr is connected to the journal (systemd.exec(5)).
bool under_journal() {
  const char* v = std::getenv("JOURNAL_STREAM");
  return v != nullptr && *v != '\0';
}

// The "<N>" prefix of sd-daemon(3), which journald turns into the line's priority.
std::string_view syslog_prefix(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
    case spdlog::level::err: return "<3>";
    case spdlog::level::warn: return "<4>";
    case spdlog::level::info: return "<6>";
    default: return "<7>";  // debug, trace
  }
}

class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const auto p = syslog_prefix(msg.level);
    dest.append(p.data(), p.data() + p.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriorityFlag>(); }
};

// The words spdlog's from_str takes ("warn" and "err" too): "trace, debug, ... or off".
std::string log_level_words() {
  std::string out;
  for (int l = spdlog::level::trace; l < spdlog::level::n_levels; ++l) {
    if (!out.empty()) out += l + 1 == spdlog::level::n_levels ? " or " : ", ";
    const auto name = spdlog::level::to_string_view(static_cast<spdlog::level::level_enum>(l));
    out.append(name.data(), name.size());
  }
  return out;
}

// SMTP_SENSOR_LOG_LEVEL in any case. spdlog's from_str answers "off" to a word it does not
// know, which would silence even the error that stops a start: such a word keeps info.
void set_log_level() {
  const char* env = std::getenv("SMTP_SENSOR_LOG_LEVEL");
  std::string name = env ? env : "";
  std::ranges::transform(name, name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.empty()) return;  // spdlog's default, info
  const auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off")
    spdlog::warn("SMTP_SENSOR_LOG_LEVEL '{}' is not a log level: use {}; logging at info", env, log_level_words());
  else spdlog::set_level(level);
}

void setup_logging() {
  auto logger = spdlog::stderr_logger_mt("smtp-sensor");
  if (under_journal()) {
    // journald stamps each line itself; a second timestamp would only be noise.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
  }
  spdlog::set_default_logger(logger);
  set_log_level();
}

// The first line of a run: what is starting, from which file, listening where.
void log_start(const std::string& path, const config::Config& cfg) {
  std::string listeners;
  for (const auto& l : cfg.listeners) {
    if (!listeners.empty()) listeners += ", ";
    listeners += l.name + "=" + l.listen.text() + "->" + l.upstream_text();
  }
  spdlog::info("smtp-sensor {} starting: config {}, listeners {}", SMTP_SENSOR_VERSION, path, listeners);
}

// Config errors as the operator reads them: one per line, plain. Under the journal each
// line carries the error priority, so `journalctl -p err` shows why the start failed.
int print_errors(const config::ConfigErrors& e, bool journal = false) {
  for (const auto& err : e.errors()) std::cerr << (journal ? "<3>" : "") << err.text() << "\n";
  return 1;
}

int run(const std::string& path) {
  setup_logging();
  config::Config cfg;
  try {
    cfg = config::load_config_file(path);
  } catch (const config::ConfigErrors& e) {
    return print_errors(e, under_journal());
  }
  log_start(path, cfg);
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
    if (!cfg.http.listen.empty() && !cfg.http.tls.cert.empty()) {
      try {
        make_http_tls(cfg.http.tls.cert, cfg.http.tls.key, cfg.http.tls.client_ca);
      } catch (const std::exception& e) {
        std::cerr << path << ": " << e.what() << "\n";
        return 1;
      }
    }
    // SPEC 12: an endpoint others can reach shows sessions (and e-mail addresses) to all.
    if (!cfg.http.listen.empty() && cfg.http.tls.cert.empty() && cfg.http.basic_auth.empty()) {
      std::string host = cfg.http.listen.substr(0, cfg.http.listen.rfind(':'));
      if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
      error_code ec;
      const auto a = asio::ip::make_address(host, ec);
      if (ec || !a.is_loopback())
        std::cerr << path << ": warning: http.listen " << cfg.http.listen
                  << " is not a loopback address and neither http.tls nor http.basic_auth is set: anyone who reaches it "
                     "can read the metrics, the sessions and the report\n";
    }
    // SPEC 9: outbound, the client is the local MTA; a per-client limit caps its deliveries.
    for (const auto& l : cfg.listeners)
      if (l.direction == config::Direction::outbound && l.max_connections_per_client > 0)
        std::cerr << path << ": warning: listener '" << l.name << "' is outbound and has max_connections_per_client "
                  << l.max_connections_per_client << ": its sessions come from the local MTA, which is then refused "
                     "more deliveries at once than that unless its address is on allow\n";
    std::cout << config::effective_yaml(cfg);
    return 0;
  } catch (const config::ConfigErrors& e) {
    return print_errors(e);
  }
}

// Without --store, -c or --fleet-url the package's config names the store (or the fleet
// database); with no such file, the local report has nothing to read.
void default_config(report::Arguments& a) {
  if (!a.store.empty() || !a.config.empty() || !a.fleet_url.empty()) return;
  std::error_code ec;
  if (std::filesystem::exists(kDefaultConfig, ec)) a.config = kDefaultConfig;
  else if (!a.input.fleet)
    throw report::StoreUnavailable(fmt::format(
        "no session store configured: give --store PATH or -c FILE (the default, {}, does not exist)", kDefaultConfig));
}

int report_command(const std::vector<std::string_view>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << report::kReportUsage << "  Without --store, -c or --fleet-url: -c " << kDefaultConfig
              << " when it exists.\n";
    return 0;
  }
  try {
    auto a = report::parse_arguments(args);
    if (!a.fleet_url.empty()) a.input.fleet.emplace(1, '1');
    default_config(a);
    if (a.input.fleet) return fleet_report_command(a);
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

// smtp-sensor flags ...: one request over the control socket, its answer printed; the
// last line is "ok" (exit 0) or "error: ..." (to stderr, exit 1).
int flags_command(const std::vector<std::string_view>& args) {
  constexpr std::string_view kFlagsUsage =
      "usage: smtp-sensor flags list|add IP|CIDR [--ttl 1h] [--action flag|block] [--reason TEXT]|remove IP|CIDR [-c FILE]\n";
  std::string path, request;
  std::vector<std::string_view> words;
  std::string ttl, action, reason;
  const auto parsed = parse_options(args,
                                    {{"-c", "--config", "a FILE", &path},
                                     {"--ttl", "", "a DURATION such as 1h", &ttl},
                                     {"--action", "", "flag or block", &action},
                                     {"--reason", "", "a TEXT", &reason}},
                                    &words);
  if (parsed.help) {
    std::cout << kFlagsUsage;
    return 0;
  }
  if (!parsed.error.empty()) return usage_error("smtp-sensor flags", parsed.error, kFlagsUsage);
  if (words.empty() || !((words[0] == "list" && words.size() == 1) || (words[0] != "list" && words.size() == 2 &&
                                                                         (words[0] == "add" || words[0] == "remove")))) {
    std::cerr << kFlagsUsage;
    return 2;
  }
  if (words[0] != "add" && (!ttl.empty() || !action.empty() || !reason.empty())) {
    std::cerr << "smtp-sensor flags: --ttl, --action and --reason go with add\n" << kFlagsUsage;
    return 2;
  }
  if (reason.find_first_of("\r\n") != std::string::npos) {
    std::cerr << "smtp-sensor flags: --reason must be one line\n";
    return 2;
  }
  request = std::string(words[0]);
  if (words.size() > 1) request += " " + std::string(words[1]);
  if (!ttl.empty()) request += " ttl=" + ttl;
  if (!action.empty()) request += " action=" + action;
  if (!reason.empty()) request += " reason=" + reason;
  std::string socket_path = config::Control{}.socket;
  if (!path.empty()) {
    try {
      socket_path = config::load_config_file(path).control.socket;
    } catch (const config::ConfigErrors& e) {
      print_errors(e);
      return 2;
    }
    if (socket_path.empty()) {
      std::cerr << "smtp-sensor flags: " << path << " has no control.socket (it is empty)\n";
      return 2;
    }
  }
  try {
    asio::io_context io;
    asio::local::stream_protocol::socket s(io);
    s.connect(asio::local::stream_protocol::endpoint(socket_path));
    asio::write(s, asio::buffer(request + "\n"));
    asio::streambuf in;
    std::istream lines(&in);
    while (true) {
      error_code ec;
      asio::read_until(s, in, '\n', ec);
      std::string line;
      if (!std::getline(lines, line)) {
        std::cerr << "smtp-sensor flags: the daemon closed the connection without an answer\n";
        return 1;
      }
      if (line == "ok") return 0;
      if (line.starts_with("error: ")) {
        std::cerr << "smtp-sensor flags: " << line.substr(7) << "\n";
        return 1;
      }
      std::cout << line << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "smtp-sensor flags: cannot talk to the daemon on " << socket_path << ": " << e.what() << "\n";
    return 1;
  }
}

// The short usage a usage error of run or check-config prints, and their --help. The bare
// `smtp-sensor -c FILE` (command empty) may be a mistyped command: it gets the whole usage.
std::string_view command_usage(std::string_view command) {
  if (command == "run") return kRunUsage;
  if (command == "check-config") return kCheckConfigUsage;
  return kCommands;
}

void print_help(std::string_view command) {
  if (command == "run") std::cout << kRunUsage << kRunHelp << kSignals << kEnvironment;
  else if (command == "check-config") std::cout << kCheckConfigUsage << kCheckConfigHelp;
  else std::cout << kCommands << kSignals << kEnvironment;
}

// run and check-config, or (command empty) `smtp-sensor -c FILE`, which runs.
int config_command(std::string_view command, const std::vector<std::string_view>& args) {
  std::string path;
  const auto parsed = parse_options(args, {{"-c", "--config", "a FILE", &path}});
  if (parsed.help) {
    print_help(command);
    return 0;
  }
  const std::string prefix = command.empty() ? "smtp-sensor" : fmt::format("smtp-sensor {}", command);
  if (!parsed.error.empty()) return usage_error(prefix, parsed.error, command_usage(command));
  if (path.empty()) return usage_error(prefix, "-c FILE is required", command_usage(command));
  return command == "check-config" ? check_config(path) : run(path);
}

// A stray word that names a file, or reads like one, was meant as the config.
bool looks_like_config(std::string_view arg) {
  if (arg.empty() || arg.starts_with("-")) return false;
  if (arg.ends_with(".yaml") || arg.ends_with(".yml")) return true;
  std::error_code ec;
  return std::filesystem::is_regular_file(arg, ec);
}

}  // namespace

std::string unexpected_argument(std::string_view arg) {
  auto text = fmt::format("unexpected argument '{}'", arg);
  if (looks_like_config(arg)) text += fmt::format(" (did you mean -c {}?)", arg);
  return text;
}

int usage_error(std::string_view command, std::string_view problem, std::string_view usage) {
  std::cerr << command << ": " << problem << "\n" << usage;
  return kUsageError;
}

ParsedOptions parse_options(const std::vector<std::string_view>& args, std::initializer_list<ValueOption> options,
                            std::vector<std::string_view>* words) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto a = args[i];
    if (a == "--help" || a == "-h") return {.help = true, .error = {}};
    const auto* o = std::ranges::find_if(options, [&](const ValueOption& o) {
      return a == o.name || (!o.alias.empty() && a == o.alias);
    });
    if (o != options.end()) {
      if (i + 1 == args.size()) return {.error = fmt::format("{} needs {}", a, o->needs)};
      *o->value = args[++i];
    } else if (words != nullptr && !a.starts_with("-")) {
      words->push_back(a);
    } else {
      return {.error = unexpected_argument(a)};
    }
  }
  return {};
}

int run_cli(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kCommands;
    return kUsageError;
  }
  if (args[0] == "--version" || args[0] == "-V") {
    std::cout << "smtp-sensor " << SMTP_SENSOR_VERSION << "\n";
    return 0;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help("");
    return 0;
  }
  const std::vector<std::string_view> rest(args.begin() + 1, args.end());
  if (args[0] == "report") return report_command(rest);
  if (args[0] == "flags") return flags_command(rest);
  if (args[0] == "fleet") return fleet_command(rest);
  if (args[0] == "run" || args[0] == "check-config") return config_command(args[0], rest);
  return config_command("", args);
}

}  // namespace smtp::daemon
