// A cleartext socket read that tells Asio's reactor when it drained the socket, so that the
// next read waits for epoll instead of first trying a recv() that fails (issue 20).
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
#include <span>

namespace smtp::daemon {

// Why: Asio (1.74) starts every read with a "speculative" recv() unless the last read on
// the socket returned end of file. An SMTP relay reads a command, forwards it and reads
// again before the peer can have answered, so that recv() fails with EAGAIN once per turn,
// 15 times in a session of one message, half of all its recv() calls. HAProxy takes a short
// read as "drained" and waits for the next epoll edge; so does this read, told to Asio as
// the reactor's own `done_and_exhausted` (what it uses for EOF), which clears the socket's
// speculative flag inside the reactor, where no later edge can slip past it.
//
// A short read says nothing of a FIN that came with the bytes, and no edge follows it: so
// the socket also registers EPOLLRDHUP, and a short read counts as draining only when the
// last epoll event of the socket did not report the peer's close. Both need Asio's private
// reactor state (the registration mask, and the events of the last wakeup); they are
// reached in drained_read.cpp and checked against this Boost version at compile time.
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
  // The caller's own read, in the running handler, found the socket empty: the next read
  // waits for epoll without a recv() first (unless the peer's FIN is known to be behind).
  static void skip_next_recv(Descriptor descriptor);
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

  // The socket's last epoll wakeup reported the peer's FIN (see DrainedReads::fin_seen).
  bool fin_seen() { return DrainedReads::fin_seen(impl_.get_implementation().reactor_data_); }

  // In the handler of a wait for writability after a connect: that wakeup reported the
  // socket writable, without EPOLLERR or EPOLLHUP.
  bool connected_cleanly() {
    const auto events = DrainedReads::last_events(impl_.get_implementation().reactor_data_);
    return (events & EPOLLOUT) != 0 && (events & (EPOLLERR | EPOLLHUP)) == 0;
  }

  // A read into `into` whose handler gets (error_code, bytes), as async_read_some's would.
  // `drained`: a read of the running handler just found the socket empty (never a read
  // of an earlier handler: epoll may have reported new bytes since).
  template <class Handler>
  void async_read_drained(std::span<char> into, Handler&& handler, bool drained = false);

 private:
  template <class Handler>
  class ReadOp;
  bool watched_ = false;
  bool trusted_ = false;  // EPOLLRDHUP is registered: a short read may count as draining
};

template <class Handler>
class ReactorSocket::ReadOp : public asio::detail::reactor_op {
 public:
  ReadOp(int fd, DrainedReads::Descriptor descriptor, bool trusted, std::span<char> into, Handler handler)
      : reactor_op(error_code(), &do_perform, &do_complete),
        fd_(fd), descriptor_(descriptor), trusted_(trusted), into_(into), handler_(std::move(handler)) {}

 private:
  static status do_perform(reactor_op* base) {
    auto* op = static_cast<ReadOp*>(base);
    for (;;) {
      const ssize_t n = ::recv(op->fd_, op->into_.data(), op->into_.size(), 0);
      if (n > 0) {
        op->ec_ = {};
        op->bytes_transferred_ = static_cast<std::size_t>(n);
        const bool shorter = op->bytes_transferred_ < op->into_.size();
        return op->trusted_ && shorter && !DrainedReads::fin_seen(op->descriptor_) ? done_and_exhausted : done;
      }
      if (n == 0) {
        op->ec_ = asio::error::eof;
        op->bytes_transferred_ = 0;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      op->ec_ = error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // owner is null when the io_context is destroyed with the read pending: drop it unrun.
  static void do_complete(void* owner, asio::detail::operation* base, const error_code&, std::size_t) {
    std::unique_ptr<ReadOp> op(static_cast<ReadOp*>(base));
    if (owner == nullptr) return;
    Handler handler = std::move(op->handler_);
    const error_code ec = op->ec_;
    const std::size_t n = op->bytes_transferred_;
    op.reset();
    handler(ec, n);
  }

  int fd_;
  DrainedReads::Descriptor descriptor_;
  bool trusted_;
  std::span<char> into_;
  Handler handler_;
};

template <class Handler>
void ReactorSocket::async_read_drained(std::span<char> into, Handler&& handler, bool drained) {
  auto& impl = impl_.get_implementation();
  auto& context = static_cast<asio::io_context&>(get_executor().context());
  if (!watched_) {
    watched_ = true;
    trusted_ = DrainedReads::watch_peer_close(context, impl.socket_, impl.reactor_data_);
  }
  if (drained && trusted_) DrainedReads::skip_next_recv(impl.reactor_data_);
  start_read_op(context, impl.socket_, impl.state_, impl.reactor_data_,
                new ReadOp<std::decay_t<Handler>>(impl.socket_, impl.reactor_data_, trusted_, into, std::forward<Handler>(handler)));
}

}  // namespace smtp::daemon
