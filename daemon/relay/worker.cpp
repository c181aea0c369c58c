#include "daemon/relay/worker.hpp"

#include "daemon/relay/relay_session.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <string>
#include <thread>

namespace smtp::daemon {

unsigned auto_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const unsigned cores = sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<unsigned>(CPU_COUNT(&set))
                                                                     : std::thread::hardware_concurrency();
  return std::max(1u, cores);
}

Worker& pick_worker(Worker& home, const std::vector<std::unique_ptr<Worker>>& workers, unsigned pack) {
  if (home.load() < pack) return home;
  Worker* best = &home;
  for (const auto& w : workers)
    if (w->load() < best->load()) best = w.get();
  return *best;
}

Worker::Worker(unsigned index) : work_(asio::make_work_guard(context_)), index_(index) {}

void Worker::start() {
  thread_ = std::thread([this] {
    const std::string name = "io-" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    context_.run();
  });
}

Worker::~Worker() { stop(); }

void Worker::add(RelaySession& session) { sessions_.push_back(session); }

void Worker::for_each(const std::function<void(const RelaySession&)>& f) const {
  for (const auto& s : sessions_) f(s);
}

void Worker::close_all() {
  // close() unlinks the session, so walk a list that shrinks under us with care.
  while (!sessions_.empty()) sessions_.front().close(Termination::shutdown);
}

}  // namespace smtp::daemon
