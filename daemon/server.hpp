// The daemon as a whole: wires relay, sense, sinks and HTTP; owns signals, drain and reload.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/control/control_server.hpp"
#include "daemon/flag_keeper.hpp"
#include "daemon/fleet_link.hpp"
#include "daemon/fleet_share.hpp"
#include "daemon/http/basic_auth.hpp"
#include "daemon/http/http_server.hpp"
#include "daemon/relay/listener_runtime.hpp"
#include "daemon/relay/nonblocking_accept.hpp"
#include "daemon/relay/worker.hpp"
#include "daemon/sense/listener_sense.hpp"
#include "daemon/sense/sensor.hpp"
#include "daemon/sink_outputs.hpp"
#include "daemon/sinks/metrics.hpp"
#include "daemon/watchdog.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace smtp::daemon {

class Server {
 public:
  // Binds every listener and the HTTP endpoint; throws std::runtime_error if one fails.
  explicit Server(config::Config config);
  ~Server();
  // Serves until SIGTERM or SIGINT has drained the sessions; returns the exit code.
  int run();

 private:
  struct Listening {
    ListenerRuntime runtime;
    std::unique_ptr<ListenerSense> sense;
    Worker* home = nullptr;  // the worker whose thread runs the acceptor
    std::unique_ptr<NonBlockingAcceptor> acceptor;
    std::unique_ptr<asio::steady_timer> backoff;  // out of descriptors: the next accept waits on it
    tcp::endpoint peer;       // filled by the accept in flight
    Worker* target = nullptr;  // where the accept in flight puts its session (pick_worker)
    std::shared_ptr<const config::Config> accepting;  // the config its session starts with
    bool over_capacity = false;  // at max_connections when it came: closed on `home`
  };

  void bind(Listening& l);
  void accept(Listening& l);
  void on_accepted(Listening& l, Worker& target, tcp::socket socket, const tcp::endpoint& peer);
  void wait_signal();
  void reload();
  void reload_tls(const config::Config& fresh);
  void begin_drain();
  void check_drained();
  std::uint64_t active_sessions() const;
  std::shared_ptr<const config::Config> config() const;
  void flush_logs_every_second();
  void start_watchdog();
  std::string sessions_json();
  std::string control_answer(const control::Request& request);
  // HTTP (SPEC 12): basic auth per request, the certificate again on SIGHUP.
  void authorize(std::string authorization, std::function<void(bool)> done);
  void reload_http(const config::Config& fresh);

  asio::io_context control_{1};  // signals, HTTP, drain: everything that is not a session
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  asio::steady_timer flush_timer_;
  Metrics metrics_;
  std::unique_ptr<SinkOutputs> outputs_;
  std::unique_ptr<FleetLink> fleet_;  // after outputs_: the shipper stops before the store closes
  std::unique_ptr<Sensor> sensor_;
  std::unique_ptr<FleetShare> share_;  // after sensor_: its thread stops before the flag table goes
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<Listening>> listeners_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<control::ControlServer> control_server_;
  std::unique_ptr<FlagKeeper> flags_;  // the flags in the store (SPEC 11), and /flagged
  // bcrypt checks (~50 ms each) run here, so a flood of wrong passwords never holds up
  // the control thread. auth_ is replaced on SIGHUP (control thread) and read there too.
  asio::thread_pool auth_pool_{1};
  std::shared_ptr<BasicAuth> auth_;
  // GET /report runs here, so a long report never holds up scrapes, signals or drain.
  asio::thread_pool report_pool_{1};
  mutable std::mutex config_mutex_;
  std::shared_ptr<const config::Config> config_;
  std::chrono::steady_clock::time_point drain_deadline_{};
  bool draining_ = false;
  bool grace_over_ = false;
  std::unique_ptr<Watchdog> watchdog_;  // only under systemd with WatchdogSec=
};

}  // namespace smtp::daemon
