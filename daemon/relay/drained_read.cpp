#include "daemon/relay/drained_read.hpp"

#include "daemon/relay/asio_reach.hpp"

// The four members below are private to Asio's epoll reactor; their meaning was read in
// Boost 1.74's epoll_reactor.ipp (registration in register_descriptor, the events of a
// wakeup in run() -> set_ready_events -> task_result_, the speculative flag in start_op and
// perform_io).

namespace smtp::daemon {

using Reactor = asio::detail::epoll_reactor;

struct EpollFd {
  using type = int Reactor::*;
  friend type reach(EpollFd);
};
struct RegisteredEvents {
  using type = std::uint32_t Reactor::descriptor_state::*;
  friend type reach(RegisteredEvents);
};
struct TrySpeculative {
  using type = bool (Reactor::descriptor_state::*)[Reactor::max_ops];
  friend type reach(TrySpeculative);
};
struct TaskResult {
  using type = unsigned int asio::detail::scheduler_operation::*;
  friend type reach(TaskResult);
};

template struct Reach<EpollFd, &Reactor::epoll_fd_>;
template struct Reach<RegisteredEvents, &Reactor::descriptor_state::registered_events_>;
template struct Reach<TrySpeculative, &Reactor::descriptor_state::try_speculative_>;
template struct Reach<TaskResult, &asio::detail::scheduler_operation::task_result_>;

bool DrainedReads::watch_peer_close(asio::io_context& context, int fd, Descriptor descriptor) {
  if (descriptor == nullptr) return false;
  std::uint32_t& events = descriptor->*reach(RegisteredEvents{});
  if (events == 0) return false;  // not in epoll (Asio then fails every wait itself)
  if ((events & EPOLLRDHUP) != 0) return true;
  epoll_event ev{};
  ev.events = events | EPOLLRDHUP;
  ev.data.ptr = descriptor;  // as Asio registers it: the wakeup finds the descriptor state
  const int epoll_fd = asio::use_service<Reactor>(context).*reach(EpollFd{});
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0) return false;
  events = ev.events;  // Asio's own later MODs (adding EPOLLOUT) keep the bit
  return true;
}

bool DrainedReads::watch_peer_close_with_next_wait(Descriptor descriptor) {
  if (descriptor == nullptr) return false;
  std::uint32_t& events = descriptor->*reach(RegisteredEvents{});
  if (events == 0) return false;
  events |= EPOLLRDHUP;  // start_op's MOD for the wait sends registered_events_ whole
  return true;
}

std::uint32_t DrainedReads::last_events(Descriptor descriptor) {
  if (descriptor == nullptr) return 0;
  // descriptor_state derives privately from scheduler_operation; a C-style cast may
  // convert to an inaccessible base ([expr.cast]/4). task_result_ holds the events of the
  // socket's last wakeup.
  const auto* op = (const asio::detail::scheduler_operation*)descriptor;  // NOLINT
  return op->*reach(TaskResult{});
}

bool DrainedReads::will_speculate(Descriptor descriptor) {
  return descriptor == nullptr || (descriptor->*reach(TrySpeculative{}))[Reactor::read_op];
}

void DrainedReads::skip_next_recv(Descriptor descriptor, bool sure) {
  // Not sure: the last events may be a recycled descriptor state's (Asio reuses them
  // without clearing task_result_), which then only costs the recv() this would save.
  if (descriptor == nullptr || (!sure && fin_seen(descriptor))) return;
  // What perform_io does itself after a read that returns done_and_exhausted.
  (descriptor->*reach(TrySpeculative{}))[Reactor::read_op] = false;
}

}  // namespace smtp::daemon
