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
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
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
  smtp-sensor flags list [-c FILE]   the active flags of the running daemon
  smtp-sensor flags add IP|CIDR [--ttl 1h] [--action flag|block] [--reason TEXT] [-c FILE]
  smtp-sensor flags remove IP|CIDR [-c FILE]
                                     change them over control.socket (default
                                     /run/smtp-sensor/control.sock; -c FILE reads it)
  smtp-sensor fleet init [--url URI | -c FILE]
                                     create or upgrade the fleet database's schema
  smtp-sensor --version | --help
  (run and check-config take --help too)

Signals: SIGHUP reloads the config; SIGTERM and SIGINT drain and exit.

Environment:
  SMTP_SENSOR_LOG_LEVEL   the daemon's log level on stderr: trace, debug, info (the
                          default), warn, err, critical or off
  JOURNAL_STREAM          set by systemd: log lines then start with their syslog priority
                          (<3> error, <4> warning, <6> info, <7> debug) and carry no
                          timestamp, since journald adds its own
)";

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
  if (const char* level = std::getenv("SMTP_SENSOR_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(level));
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

int report_command(const std::vector<std::string_view>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << report::kReportUsage;
    return 0;
  }
  try {
    auto a = report::parse_arguments(args);
    if (!a.fleet_url.empty()) a.input.fleet.emplace(1, '1');
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
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--help" || a == "-h") {
      std::cout << kFlagsUsage;
      return 0;
    }
    if ((a == "-c" || a == "--config") && has_value) path = args[++i];
    else if (a == "--ttl" && has_value) ttl = args[++i];
    else if (a == "--action" && has_value) action = args[++i];
    else if (a == "--reason" && has_value) reason = args[++i];
    else if (a.starts_with("-")) {
      std::cerr << "smtp-sensor flags: unexpected argument '" << a << "'\n" << kFlagsUsage;
      return 2;
    } else words.push_back(a);
  }
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
  if (args[0] == "flags") return flags_command({args.begin() + 1, args.end()});
  if (args[0] == "fleet") return fleet_command({args.begin() + 1, args.end()});
  std::string_view command = "run";
  std::size_t i = 0;
  if (args[0] == "run" || args[0] == "check-config") command = args[i++];
  std::string path;
  for (; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << kUsage;
      return 0;
    }
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
