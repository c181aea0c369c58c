#include "daemon/relay/worker.hpp"

#include "daemon/relay/relay_session.hpp"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace smtp::daemon {

unsigned auto_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const unsigned cores = sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<unsigned>(CPU_COUNT(&set))
                                                                     : std::thread::hardware_concurrency();
  return std::max(1u, cores);
}

Worker::Worker() : work_(asio::make_work_guard(context_)) {}

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
