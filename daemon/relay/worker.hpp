// An I/O thread with its own io_context; every session lives on exactly one worker.
#pragma once

#include "daemon/asio.hpp"

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>
#include <thread>

namespace smtp::daemon {

using SessionHook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class RelaySession;

// `threads: auto`: one I/O thread per core this process may run on (its affinity mask,
// so a systemd CPUAffinity= or taskset is respected). Threads without sessions sleep:
// pick_worker below packs sessions onto few of them (docs/DESIGN.md "I/O threads").
unsigned auto_threads();

// Sessions never leave their worker, so their state needs no locks; the worker keeps an
// intrusive list of them (no allocation) for draining and for /sessions.
class Worker {
 public:
  // `index` names the thread "io-<index>" (top -H, perf, /proc/PID/task/*/comm).
  explicit Worker(unsigned index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  asio::io_context& context() { return context_; }
  void start();
  void stop() {
    work_.reset();
    context_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Destroys every handler still queued (the context stays). A handler queued on one
  // worker may hold a socket of another (Asio's accept did, CI stop 26, where ASan saw the
  // last worker free a socket whose worker's services were gone): so all workers do this
  // before any is destroyed.
  void drop_pending() { context_.shutdown(); }

  void add(RelaySession& session);
  // Sessions placed on this worker and not yet gone: counted by the acceptor's thread when
  // it places one, and by the session's destructor here, so atomic.
  unsigned load() const { return load_.load(std::memory_order_relaxed); }
  void took_session() { load_.fetch_add(1, std::memory_order_relaxed); }
  void session_gone() { load_.fetch_sub(1, std::memory_order_relaxed); }
  // Runs on the worker's thread: closes every session (the drain grace has run out).
  void close_all();
  // Runs on the worker's thread.
  void for_each(const std::function<void(const RelaySession&)>& f) const;

 private:
  using List = boost::intrusive::list<RelaySession, boost::intrusive::base_hook<SessionHook>,
                                      boost::intrusive::constant_time_size<false>>;
  // io_context with its protected shutdown() made callable (see drop_pending).
  struct Context : asio::io_context {
    using asio::io_context::io_context;
    using asio::execution_context::shutdown;
  };
  // One thread per context, and every socket is used only by its own worker's thread
  // (sessions never move; the acceptor's thread creates a socket in another worker's
  // reactor but hands it over by a post, and closes at accept only its own: Server::accept).
  // So Asio takes no per-descriptor lock on each operation (issue 20: 1.5 % of the CPU).
  Context context_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  unsigned index_;
  List sessions_;
  std::atomic<unsigned> load_{0};
};

// Where the next session of a listener goes: pack, then spread (issue 20). The listener's
// own worker (`home`, whose thread runs the acceptor) takes sessions until it holds
// kPackSessions: a sensor with few sessions then runs on one thread, which finds several
// events ready per wakeup and hands nothing to another thread, where spreading ten
// sessions over two threads cost each message 8-34 % more CPU on the 2-core machine
// (bench/README.md, fourth pass). Past that, the least loaded worker takes it, so a flood
// uses every core.
constexpr unsigned kPackSessions = 64;
// A listener that terminates TLS spreads its sessions from the second on: there a session's
// cost is the crypto, which another core runs alongside, not the wakeups that packing saves.
// Ten STARTTLS sessions re-encrypting 1 MB bodies on one thread reached 0.83-0.90x HAProxy's
// throughput (two threads), spread 0.93-0.99x for the same CPU (bench/README.md, sixth pass).
constexpr unsigned kPackTlsSessions = 1;
Worker& pick_worker(Worker& home, const std::vector<std::unique_ptr<Worker>>& workers, unsigned pack = kPackSessions);

}  // namespace smtp::daemon
