// A wait for a cleartext socket to be readable that skips Asio's first recv() when the
// caller's own read just drained the socket, and says whether the peer's FIN came with the
// wakeup (issue 20).
#pragma once

#include "daemon/asio.hpp"

#include <boost/asio/detail/reactor.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace smtp::daemon {

// Why: Asio (1.74) starts every read with a "speculative" recv() unless the last read on
// the socket returned end of file. An SMTP relay reads a command, forwards it and reads
// again before the peer can have answered, so that recv() fails with EAGAIN once per turn,
// 15 times in a session of one message, half of all its recv() calls. HAProxy takes a short
// read as "drained" and waits for the next epoll edge; so does the pump: its read, in the
// handler, found the socket empty, and the wait it starts next clears the socket's
// speculative flag, as the reactor does itself after end of file. The reactor runs on the
// handler's own thread, so no edge can have been taken in between.
//
// A short read says nothing of a FIN that came with the bytes, and no edge follows it: so
// the socket also registers EPOLLRDHUP, and the wait hands its handler the wakeup's word on
// the FIN. With it, a short read is the end of the input (as HAProxy reads it): no recv()
// of the end of file. Without it (the wait ended at once, not in a wakeup), a short read
// counts as draining only when the socket's last events did not report the peer's close.
// Both need Asio's private reactor state (the registration mask, the events of the last
// wakeup, the speculative flag); they are reached in drained_read.cpp and checked against
// this Boost version at compile time.
class DrainedReads {
 public:
  using Descriptor = asio::detail::epoll_reactor::per_descriptor_data;

  // Adds EPOLLRDHUP to the socket's epoll registration (once per socket; one epoll_ctl).
  // False if the socket is not registered as expected: then reads stay Asio's own.
  static bool watch_peer_close(asio::io_context& context, int fd, Descriptor descriptor);
  // Adds EPOLLRDHUP to the registration Asio keeps, for its next epoll_ctl to carry: only
  // right before a wait of Asio's (async_wait), which always re-registers the socket.
  static bool watch_peer_close_with_next_wait(Descriptor descriptor);
  // The socket's last epoll wakeup reported the peer's FIN (EPOLLRDHUP): a short read then
  // does not mean drained, as the end of file is still to be read and no edge will come.
  static bool fin_seen(Descriptor descriptor) { return (last_events(descriptor) & EPOLLRDHUP) != 0; }
  // The epoll events of the socket's last wakeup (EPOLLIN, EPOLLOUT, EPOLLERR, ...).
  static std::uint32_t last_events(Descriptor descriptor);
  // Whether a read will be tried at once when the next read operation starts.
  static bool will_speculate(Descriptor descriptor);
  // The caller's own read, in the running handler, found the socket empty: the next read
  // waits for epoll without a recv() first. `sure`: nothing, not even a FIN, can be behind
  // (the read failed with EAGAIN, or the wakeup that led to it reported no FIN); else the
  // socket's last events decide, and a FIN they report keeps the recv().
  static void skip_next_recv(Descriptor descriptor, bool sure);
};

// Hands a reactor operation of our own to Asio as a read on `fd` (tried at once, then
// whenever epoll reports the socket readable), after making the socket non-blocking for
// Asio if it is not yet; or completes it at once with the error of that.
inline void start_read_op(asio::io_context& context, int fd, asio::detail::socket_ops::state_type& state,
                          DrainedReads::Descriptor& descriptor, asio::detail::reactor_op* op) {
  auto& reactor = asio::use_service<asio::detail::reactor>(context);
  error_code ec;
  if ((state & asio::detail::socket_ops::non_blocking) == 0 &&
      !asio::detail::socket_ops::set_internal_non_blocking(fd, state, true, ec)) {
    op->ec_ = ec;
    reactor.post_immediate_completion(op, false);
    return;
  }
  reactor.start_op(asio::detail::epoll_reactor::read_op, fd, descriptor, op, false, true);
}

// tcp::socket with the reactor's view of it reachable (basic_socket keeps it protected).
class ReactorSocket : public tcp::socket {
 public:
  explicit ReactorSocket(asio::io_context& context) : tcp::socket(context) {}
  // An accepted socket: Asio marks it a possible dup of another descriptor (accept goes
  // through assign), which makes close() remove it from epoll by hand first. It is no dup.
  explicit ReactorSocket(tcp::socket&& accepted) : tcp::socket(std::move(accepted)) {
    auto& state = impl_.get_implementation().state_;
    state = static_cast<asio::detail::socket_ops::state_type>(state & ~asio::detail::socket_ops::possible_dup);
  }

  // Opens a socket that is non-blocking from its creation (SOCK_NONBLOCK), and known to
  // Asio as such: open() and then non_blocking(true) cost an ioctl more per session.
  void open_non_blocking(const tcp& protocol, error_code& ec) {
    const int fd = ::socket(protocol.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol.protocol());
    if (fd < 0) {
      ec.assign(errno, asio::error::get_system_category());
      return;
    }
    adopt_non_blocking(protocol, fd, ec);
  }

  // Takes over `fd`, a socket already non-blocking (SOCK_NONBLOCK, or accept4's flag), and
  // tells Asio so, which would otherwise set it again (an ioctl) before the first read.
  // On failure `fd` is closed.
  void adopt_non_blocking(const tcp& protocol, int fd, error_code& ec) {
    if (assign(protocol, fd, ec)) {
      ::close(fd);
      return;
    }
    namespace ops = asio::detail::socket_ops;
    auto& state = impl_.get_implementation().state_;
    // Ours, not a dup of another descriptor: close() may leave the epoll removal to the kernel.
    state = static_cast<ops::state_type>((state & ~ops::possible_dup) | ops::user_set_non_blocking | ops::internal_non_blocking);
  }

  // The caller's next step is an async_wait on this socket (a connect's): its epoll_ctl
  // registers EPOLLRDHUP as well, and saves watch_peer_close's own.
  void watch_peer_close_with_next_wait() {
    watched_ = true;
    trusted_ = DrainedReads::watch_peer_close_with_next_wait(impl_.get_implementation().reactor_data_);
  }

  // In the handler of a wait for writability after a connect: that wakeup reported the
  // socket writable, without EPOLLERR or EPOLLHUP.
  bool connected_cleanly() {
    const auto events = DrainedReads::last_events(impl_.get_implementation().reactor_data_);
    return (events & EPOLLOUT) != 0 && (events & (EPOLLERR | EPOLLHUP)) == 0;
  }

  // Waits until the socket is readable; the handler gets (error_code, Readiness) and then
  // reads itself. `drained`: a read of the running handler just found the socket empty
  // (never a read of an earlier handler: epoll may have reported new bytes since), and
  // `sure` says no FIN can be behind it (see DrainedReads::skip_next_recv).
  template <class Handler>
  void async_wait_to_read(Handler&& handler, bool drained = false, bool sure = false);

 private:
  template <class Handler>
  class ReadyOp;
  bool watched_ = false;
  bool trusted_ = false;  // EPOLLRDHUP is registered: a short read may count as draining
};

// What a wait for readability learned. `woken`: it ended in an epoll wakeup of the socket,
// EPOLLRDHUP registered and no EPOLLERR (not at once, nor with an error code), so `fin` is
// that wakeup's word: whether the peer's FIN was in. Everything before a FIN is in the
// socket by then, so with `fin` a read shorter than asked for has reached the end of input.
struct Readiness {
  bool woken = false;
  bool fin = false;
};

template <class Handler>
class ReactorSocket::ReadyOp : public asio::detail::reactor_op {
 public:
  ReadyOp(DrainedReads::Descriptor descriptor, bool woken, Handler handler)
      : reactor_op(error_code(), &do_perform, &do_complete), descriptor_(descriptor), handler_(std::move(handler)) {
    readiness_.woken = woken;
  }

 private:
  // Run by the reactor when epoll reports the socket readable (or at once, if the op
  // starts speculatively: then `woken` was false from the start). The wakeup's events are
  // the descriptor's last until the next epoll_wait, which cannot run before this.
  static status do_perform(reactor_op* base) {
    auto* op = static_cast<ReadyOp*>(base);
    if (!op->readiness_.woken) return done;
    const std::uint32_t events = DrainedReads::last_events(op->descriptor_);
    // A reset also reports EPOLLRDHUP, but what follows its bytes is an error, not the end
    // of file: the wakeup's word is then no word (the next read is tried at once).
    if ((events & EPOLLERR) != 0) op->readiness_.woken = false;
    else op->readiness_.fin = (events & EPOLLRDHUP) != 0;
    return done;
  }

  // owner is null when the io_context is destroyed with the wait pending: drop it unrun.
  static void do_complete(void* owner, asio::detail::operation* base, const error_code&, std::size_t) {
    std::unique_ptr<ReadyOp> op(static_cast<ReadyOp*>(base));
    if (owner == nullptr) return;
    Handler handler = std::move(op->handler_);
    const error_code ec = op->ec_;
    const Readiness readiness = ec ? Readiness{} : op->readiness_;
    op.reset();
    handler(ec, readiness);
  }

  DrainedReads::Descriptor descriptor_;
  Readiness readiness_;
  Handler handler_;
};

template <class Handler>
void ReactorSocket::async_wait_to_read(Handler&& handler, bool drained, bool sure) {
  auto& impl = impl_.get_implementation();
  auto& context = static_cast<asio::io_context&>(get_executor().context());
  if (!watched_) {
    watched_ = true;
    trusted_ = DrainedReads::watch_peer_close(context, impl.socket_, impl.reactor_data_);
  }
  if (drained && trusted_) DrainedReads::skip_next_recv(impl.reactor_data_, sure);
  // Without the speculative flag the reactor queues the op for epoll: it completes in a
  // wakeup, whose events it can read.
  const bool woken = trusted_ && !DrainedReads::will_speculate(impl.reactor_data_);
  start_read_op(context, impl.socket_, impl.state_, impl.reactor_data_,
                new ReadyOp<std::decay_t<Handler>>(impl.reactor_data_, woken, std::forward<Handler>(handler)));
}

}  // namespace smtp::daemon
