#include "daemon/server.hpp"

#include "config/config_loader.hpp"
#include "daemon/http/investigate_routes.hpp"
#include "daemon/http/routes.hpp"
#include "daemon/relay/original_destination.hpp"
#include "daemon/relay/relay_session.hpp"
#include "daemon/reload_plan.hpp"
#include "text/json.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <future>
#include <span>
#include <stdexcept>
#include <thread>

#ifndef SMTP_SENSOR_VERSION
#define SMTP_SENSOR_VERSION "dev"
#endif

namespace smtp::daemon {
namespace {

constexpr auto kDrainPoll = std::chrono::milliseconds(100);
// After the grace time the daemon closes what is left; this is how long it then waits
// for the closed sessions to be torn down before it exits regardless.
constexpr auto kTeardownWait = std::chrono::seconds(3);

// TPROXY hands a listener connections addressed to other hosts; the kernel delivers
// them only to a socket with IP_TRANSPARENT, which needs CAP_NET_ADMIN. Without it a
// REDIRECT still works, so the daemon says so and goes on.
// A dual-stack "[::]" listener takes both flags, for IPv4 and IPv6 TPROXY.
void allow_tproxy(tcp::acceptor& acceptor, bool v6, const std::string& listener) {
  const int on = 1;
  int rc = ::setsockopt(acceptor.native_handle(), SOL_IP, IP_TRANSPARENT, &on, sizeof on);
  if (rc == 0 && v6) rc = ::setsockopt(acceptor.native_handle(), SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof on);
  if (rc != 0)
    spdlog::warn("listener '{}': IP_TRANSPARENT refused ({}): TPROXY cannot reach it, REDIRECT still can "
                 "(CAP_NET_ADMIN, see OPERATIONS)", listener, std::strerror(errno));
}

// The first listener whose fixed upstream is the sensor itself, said; empty if none.
std::string upstream_loop(const config::Config& cfg, std::span<const tcp::endpoint> listens) {
  for (const auto& l : cfg.listeners)
    if (!l.original_destination() && dials_itself(to_endpoint(l.upstream), listens))
      return "listener '" + l.name + "': upstream " + l.upstream.text() +
             " is an address of this host on a port the sensor listens on: it would relay to itself";
  return {};
}

}  // namespace

Server::Server(config::Config config)
    : signals_(control_, SIGTERM, SIGINT, SIGHUP),
      drain_timer_(control_),
      flush_timer_(control_),
      metrics_(config.metrics.domain_label_limit, SMTP_SENSOR_VERSION),
      config_(std::make_shared<const config::Config>(std::move(config))) {
  const auto& cfg = *config_;
  // Each pool has one thread, named by a first task (top -H, perf: OPERATIONS.md "Threads").
  for (auto [pool, name] : {std::pair{&auth_pool_, "auth"}, {&report_pool_, "reports"}})
    asio::post(*pool, [name] { pthread_setname_np(pthread_self(), name); });
  outputs_ = std::make_unique<SinkOutputs>(cfg, metrics_);
  fleet_ = std::make_unique<FleetLink>(cfg, metrics_);
  sensor_ = std::make_unique<Sensor>(cfg, metrics_, *outputs_);
  const unsigned threads = cfg.threads != 0 ? cfg.threads : auto_threads();
  for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(i));
  std::vector<tcp::endpoint> all_listens;
  for (const auto& lc : cfg.listeners) all_listens.push_back(to_endpoint(lc.listen));
  if (const auto why = upstream_loop(cfg, all_listens); !why.empty()) throw std::runtime_error(why);
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    auto l = std::make_unique<Listening>();
    l->runtime.index = i;
    l->runtime.all_listens = all_listens;
    l->runtime.config = cfg.listeners[i];
    l->sense = std::make_unique<ListenerSense>(*sensor_, i, metrics_.listener(cfg.listeners[i].name));
    l->runtime.observers = l->sense.get();
    if (cfg.listeners[i].tls.mode == config::TlsMode::terminate) {
      try {
        l->runtime.tls = std::make_shared<const TlsContexts>(cfg.listeners[i].tls);
      } catch (const std::exception& e) {
        throw std::runtime_error("listener '" + cfg.listeners[i].name + "': " + e.what());
      }
    }
    l->home = workers_[i % workers_.size()].get();
    bind(*l);
    listeners_.push_back(std::move(l));
  }
  flags_ = std::make_unique<FlagKeeper>(control_, sensor_->flags(), cfg.store.enabled ? cfg.store.path : std::string());
  // After the store's flags are back and before the first session (it sets the tap).
  share_ = std::make_unique<FleetShare>(cfg, *sensor_, *outputs_, metrics_);
  if (!cfg.control.socket.empty()) {
    // Not fatal: mail keeps flowing without the control socket, and the error says why.
    try {
      control_server_ = std::make_unique<control::ControlServer>(
          control_, cfg.control.socket, [this](const control::Request& r) { return control_answer(r); });
    } catch (const std::exception& e) {
      spdlog::error("{}; running without the control socket", e.what());
    }
  }
  auth_ = std::make_shared<BasicAuth>(cfg.http.basic_auth);
  if (!cfg.http.listen.empty()) {
    // The loader has checked http.listen and written it as HostPort::text().
    const auto hp = config::HostPort::parse(cfg.http.listen);
    if (!hp) throw std::runtime_error("http.listen " + cfg.http.listen + " is not IP:PORT");
    const tcp::endpoint ep = to_endpoint(*hp);
    try {
      http_ = std::make_unique<HttpServer>(control_, ep);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot listen on http.listen " + cfg.http.listen + ": " + e.what());
    }
    http_->on_out_of_descriptors([this] { metrics_.out_of_descriptors("http", "accept").Increment(); });
    if (!cfg.http.tls.cert.empty()) http_->use_tls(make_http_tls(cfg.http.tls.cert, cfg.http.tls.key, cfg.http.tls.client_ca));
    http_->require_auth([this](std::string authorization, std::function<void(bool)> done) { authorize(std::move(authorization), std::move(done)); },
                        [this] { metrics_.http_auth_failures().Increment(); });
    add_routes(*http_, report_pool_,
               {[this] { return metrics_.serialize(); }, [this] { return draining_; }, [this] { return sessions_json(); },
                [this](std::size_t offset, std::size_t limit, std::size_t& total) {
                  return sensor_->flagged_json(offset, limit, total);
                },
                [this] {
                  const auto cfg = this->config();
                  return cfg->store.enabled ? cfg->store.path : std::string();
                },
                fleet_->report_function()},
               &flags_->pool());
    // SPEC 13: history, transcripts and alerts, read on the report pool as well.
    add_investigate_routes(*http_, report_pool_,
                           {[this] {
                              const auto cfg = this->config();
                              return cfg->store.enabled ? cfg->store.path : std::string();
                            },
                            [this] {
                              const auto cfg = this->config();
                              std::vector<std::string> files;
                              if (!cfg->transcripts.enabled) return files;
                              for (std::size_t i = 0; i <= cfg->transcripts.max_files; ++i)
                                files.push_back(transcript_file_name(cfg->transcripts.path, i));
                              return files;
                            },
                            [this] { return this->config()->alerts.path; }});
  }
}

std::string Server::sessions_json() {
  // Sessions belong to their workers' threads; each worker lists its own and the
  // control thread waits (briefly) for all of them.
  std::vector<std::future<std::string>> parts;
  for (auto& w : workers_) {
    auto task = std::make_shared<std::packaged_task<std::string()>>([&w] {
      std::string out;
      w->for_each([&out](const RelaySession& s) {
        if (!s.watched()) return;  // still reading its PROXY header: nothing to show yet
        if (!out.empty()) out += ',';
        s.append_json(out);
      });
      return out;
    });
    parts.push_back(task->get_future());
    asio::post(w->context(), [task] { (*task)(); });
  }
  std::string json = "[";
  for (auto& p : parts) {
    if (p.wait_for(std::chrono::seconds(2)) != std::future_status::ready) continue;
    auto part = p.get();
    if (part.empty()) continue;
    if (json.size() > 1) json += ',';
    json += part;
  }
  return json + "]\n";
}

Server::~Server() {
  // Order matters: acceptors belong to worker contexts, and sessions still queued in a
  // context reach back into their listener when they die.
  for (auto& w : workers_) w->stop();
  for (auto& l : listeners_) l->acceptor.reset(), l->backoff.reset();
  report_pool_.stop();  // queued reports are dropped; a running one finishes first
  report_pool_.join();
  auth_pool_.stop();
  auth_pool_.join();
  flags_->join();  // the last flag writes finish before the store closes
  control_server_.reset();
  http_.reset();
  for (auto& w : workers_) w->drop_pending();  // every context still exists (worker.hpp)
  workers_.clear();
}

void Server::bind(Listening& l) {
  const auto ep = to_endpoint(l.runtime.config.listen);
  l.acceptor = std::make_unique<NonBlockingAcceptor>(l.home->context());
  l.backoff = std::make_unique<asio::steady_timer>(l.home->context());
  try {
    l.acceptor->open(ep.protocol());
    l.acceptor->set_option(tcp::acceptor::reuse_address(true));
    if (ep.address().is_v6()) l.acceptor->set_option(asio::ip::v6_only(false));  // "[::]" takes IPv4 too
    if (l.runtime.config.original_destination()) allow_tproxy(*l.acceptor, ep.address().is_v6(), l.runtime.config.name);
    l.acceptor->bind(ep);
    l.acceptor->listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    throw std::runtime_error("listener '" + l.runtime.config.name + "': cannot listen on " + l.runtime.config.listen.text() +
                             ": " + e.what());
  }
}

std::shared_ptr<const config::Config> Server::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

void Server::accept(Listening& l) {
  // The worker is picked once the connection is there, by the load at that moment (pack,
  // then spread: pick_worker); the socket is created on its context so it never has to
  // move threads.
  auto pick = [this, &l]() -> asio::io_context& {
    // The one decision on max_connections. A connection over it is closed at once, by the
    // acceptor's thread: so it goes to that thread's own reactor, as Asio's descriptor state
    // may only be touched by its own thread (Worker: no locking of I/O). Only this thread
    // adds to `active`, so the listener is no fuller by the time on_accepted counts.
    l.accepting = config();
    l.over_capacity =
        l.runtime.active.load(std::memory_order_relaxed) >= l.accepting->listeners[l.runtime.index].max_connections;
    if (l.over_capacity)
      l.target = l.home;
    else {
      const bool tls = l.runtime.config.tls.mode == config::TlsMode::terminate;  // restart-only
      l.target = &pick_worker(*l.home, workers_, tls ? kPackTlsSessions : kPackSessions);
    }
    return l.target->context();
  };
  l.acceptor->async_accept_non_blocking(pick, l.peer, [this, &l](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !l.acceptor->is_open()) return;
    if (!ec) on_accepted(l, *l.target, std::move(socket), l.peer);
    else spdlog::warn("listener '{}': accept failed: {}", l.runtime.config.name, ec.message());
    if (ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system) {
      metrics_.out_of_descriptors(l.runtime.config.name, "accept").Increment();
      // Out of file descriptors: back off briefly instead of spinning on accept. The timer
      // is the listener's own, so this path allocates nothing.
      l.backoff->expires_after(std::chrono::milliseconds(100));
      return l.backoff->async_wait([this, &l](const error_code& e) {
        if (!e) accept(l);
      });
    }
    accept(l);
  });
}

void Server::on_accepted(Listening& l, Worker& target, tcp::socket socket, const tcp::endpoint& peer) {
  auto& rt = l.runtime;
  auto cfg = std::move(l.accepting);
  if (l.over_capacity) {
    rt.observers->on_over_capacity();
    error_code ignored;
    socket.close(ignored);
    return;
  }
  rt.active.fetch_add(1, std::memory_order_relaxed);
  target.took_session();  // counted now, not when the posted session starts: the next pick sees it
  // On the acceptor's own worker the session starts at once: a post would cost a trip
  // through the scheduler (and an extra epoll_wait) for nothing.
  if (&target == l.home) return std::make_shared<RelaySession>(target, rt, std::move(cfg), std::move(socket), peer)->start();
  asio::post(target.context(), [&rt, &target, cfg = std::move(cfg), socket = std::move(socket), peer]() mutable {
    std::make_shared<RelaySession>(target, rt, std::move(cfg), std::move(socket), peer)->start();
  });
}

void Server::wait_signal() {
  signals_.async_wait([this](const error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) reload();
    else if (!draining_) begin_drain();
    wait_signal();
  });
}

void Server::reload() {
  const auto current = config();
  sd_notify(0, "RELOADING=1");
  try {
    auto fresh = config::load_config_file(current->source);
    // Whatever only a restart changes keeps its running value, and is named.
    for (const auto& key : keep_restart_only(*current, fresh))
      spdlog::warn("reload: {} changes only on restart; the running value stays", key);
    if (const auto why = upstream_loop(fresh, listeners_.front()->runtime.all_listens); !why.empty())
      throw config::ConfigErrors({{current->source, 0, 0, why}});
    reload_tls(fresh);
    reload_http(fresh);
    sensor_->reconfigure(fresh);
    fleet_->reload(fresh);
    share_->reload(fresh);
    {
      std::lock_guard lock(config_mutex_);
      config_ = std::make_shared<const config::Config>(std::move(fresh));
    }
    spdlog::info("reloaded {}: new sessions use it", current->source);
    metrics_.reloaded(true);
  } catch (const config::ConfigErrors& e) {
    for (const auto& err : e.errors()) spdlog::error("reload rejected, old config stays: {}", err.text());
    metrics_.reloaded(false);
  }
  sd_notify(0, "READY=1");
}

// A renewed certificate takes effect for new handshakes; a broken one is refused and the
// old one stays, like a broken config.
void Server::reload_tls(const config::Config& fresh) {
  for (std::size_t i = 0; i < listeners_.size() && i < fresh.listeners.size(); ++i) {
    auto& rt = listeners_[i]->runtime;
    if (rt.config.tls.mode != config::TlsMode::terminate || fresh.listeners[i].tls.mode != config::TlsMode::terminate) continue;
    try {
      rt.tls.store(std::make_shared<const TlsContexts>(fresh.listeners[i].tls));
      spdlog::info("listener '{}': TLS certificate reloaded from {}", rt.config.name, fresh.listeners[i].tls.cert);
    } catch (const std::exception& e) {
      spdlog::error("listener '{}': TLS reload rejected, the old certificate stays: {}", rt.config.name, e.what());
    }
  }
}

namespace {

// One line of `list`: the key first, then key=value pairs, reason (free text) last.
std::string flag_line(const FlagEntry& e) {
  std::string line = e.ip + " action=" + (e.block ? "block" : "flag") + " type=" + e.type +
                     " since=" + text::iso8601_utc(e.since) + " expires=" + text::iso8601_utc(e.expires) +
                     " count=" + std::to_string(e.count);
  if (!e.sensor.empty()) line += " sensor=" + e.sensor;
  if (!e.reason.empty()) line += " reason=" + e.reason;
  return line + "\n";
}

}  // namespace

std::string Server::control_answer(const control::Request& r) {
  switch (r.verb) {
    case control::Verb::list: {
      std::string out;
      for (const auto& e : sensor_->flags().snapshot()) out += flag_line(e);
      return out + "ok\n";
    }
    case control::Verb::add: {
      const auto cfg = config();  // allow as it is now: SIGHUP may have changed it
      return flags_->add(*sensor_, r, cfg->allow, r.ttl.value_or(cfg->flag.ttl));
    }
    case control::Verb::remove: return flags_->remove(*sensor_, r.target);
    default: return "error: unknown command\n";
  }
}

void Server::authorize(std::string authorization, std::function<void(bool)> done) {
  auto auth = auth_;
  if (!auth->enabled() || auth->cached(authorization)) return done(true);
  asio::post(auth_pool_, [auth, authorization = std::move(authorization), done = std::move(done)] { done(auth->check(authorization)); });
}

// http.basic_auth applies to the next request; the certificate to the next handshake.
// Turning TLS on or off needs a restart (the port's scheme changes).
void Server::reload_http(const config::Config& fresh) {
  auth_ = std::make_shared<BasicAuth>(fresh.http.basic_auth);
  if (!http_) return;
  if (http_->tls() != !fresh.http.tls.cert.empty()) {
    spdlog::warn("reload: http.tls on or off changes only on restart; the endpoint stays {}", http_->tls() ? "HTTPS" : "HTTP");
    return;
  }
  if (!http_->tls()) return;
  try {
    http_->use_tls(make_http_tls(fresh.http.tls.cert, fresh.http.tls.key, fresh.http.tls.client_ca));
    spdlog::info("http: TLS certificate reloaded from {}", fresh.http.tls.cert);
  } catch (const std::exception& e) {
    spdlog::error("http: TLS reload rejected, the old certificate stays: {}", e.what());
  }
}

std::uint64_t Server::active_sessions() const {
  std::uint64_t n = 0;
  for (const auto& l : listeners_) n += l->runtime.active.load(std::memory_order_relaxed);
  return n;
}

void Server::begin_drain() {
  draining_ = true;
  sd_notify(0, "STOPPING=1");
  const auto grace = config()->timeouts.shutdown_grace;
  const auto open = active_sessions();
  spdlog::info("draining: no new connections; {} session{} get{} up to {} ms", open, open == 1 ? "" : "s",
               open == 1 ? "s" : "", grace.count());
  for (auto& l : listeners_)
    asio::post(l->home->context(), [&l] {
      error_code ignored;
      l->acceptor->close(ignored);
    });
  drain_deadline_ = std::chrono::steady_clock::now() + grace;
  check_drained();
}

void Server::check_drained() {
  const auto now = std::chrono::steady_clock::now();
  if (active_sessions() == 0 || (grace_over_ && now >= drain_deadline_)) {
    if (http_) http_->stop();
    if (control_server_) control_server_->stop();
    signals_.cancel();
    flush_timer_.cancel();
    flags_->stop();
    control_.stop();
    return;
  }
  if (!grace_over_ && now >= drain_deadline_) {
    grace_over_ = true;
    spdlog::info("grace time over: closing {} sessions", active_sessions());
    for (auto& w : workers_) asio::post(w->context(), [&w] { w->close_all(); });
    drain_deadline_ = now + kTeardownWait;
  }
  drain_timer_.expires_after(kDrainPoll);
  drain_timer_.async_wait([this](const error_code& ec) {
    if (!ec) check_drained();
  });
}

// Transcript lines reach the disk within a second, so `tail -f` and grep by LCID work
// on live sessions without a write per line.
void Server::flush_logs_every_second() {
  flush_timer_.expires_after(std::chrono::seconds(1));
  flush_timer_.async_wait([this](const error_code& ec) {
    if (ec) return;
    outputs_->flush_logs();
    if (auto* t = outputs_->transcript_log())
      for (auto& w : workers_) asio::post(w->context(), [t] { t->flush_thread(); });
    flush_logs_every_second();
  });
}

// WatchdogSec= in the unit: WATCHDOG=1 only while every worker still runs what it is sent.
void Server::start_watchdog() {
  const auto interval = Watchdog::systemd_interval();
  if (!interval) return;
  std::vector<asio::io_context*> contexts;
  for (auto& w : workers_) contexts.push_back(&w->context());
  watchdog_ = std::make_unique<Watchdog>(control_, std::move(contexts), *interval,
                                         [](std::string_view text) { sd_notify(0, std::string(text).c_str()); });
  watchdog_->start();
  spdlog::info("systemd watchdog: checking {} I/O threads every {} ms", workers_.size(), interval->count());
}

int Server::run() {
  for (auto& w : workers_) w->start();
  for (auto& l : listeners_) {
    asio::post(l->home->context(), [this, &l] { accept(*l); });
    spdlog::info("listener '{}' on {} relaying to {}", l->runtime.config.name, l->runtime.config.listen.text(),
                 l->runtime.config.upstream_text());
  }
  if (http_) {
    http_->start();
    spdlog::info("http endpoint on {}", config()->http.listen);
  }
  if (control_server_) {
    control_server_->start();
    spdlog::info("control socket on {}", control_server_->path());
  }
  wait_signal();
  flush_logs_every_second();
  flags_->start();
  // STATUS= replaces any "Upgrading the session store" left from start-up.
  const auto ready = "READY=1\nSTATUS=serving " + std::to_string(listeners_.size()) +
                     (listeners_.size() == 1 ? " listener" : " listeners");
  sd_notify(0, ready.c_str());
  start_watchdog();
  control_.run();
  // Each worker hands over its last transcript lines before it stops.
  if (auto* t = outputs_->transcript_log()) {
    std::vector<std::future<void>> done;
    for (auto& w : workers_) {
      auto task = std::make_shared<std::packaged_task<void()>>([t] { t->flush_thread(); });
      done.push_back(task->get_future());
      asio::post(w->context(), [task] { (*task)(); });
    }
    for (auto& d : done) d.wait_for(std::chrono::seconds(2));
  }
  for (auto& w : workers_) w->stop();
  outputs_->flush();
  flags_->write_last();  // before the process goes
  spdlog::info("stopped");
  return 0;
}

}  // namespace smtp::daemon
