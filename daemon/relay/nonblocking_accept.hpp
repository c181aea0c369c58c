// A listening socket whose accepts hand over sockets that are non-blocking from the start.
#pragma once

#include "daemon/asio.hpp"
#include "daemon/relay/drained_read.hpp"

#include <boost/asio/detail/reactor.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <type_traits>

namespace smtp::daemon {

// Why: Asio (1.74) accepts with accept(), so every session's socket is blocking until the
// first asynchronous operation sets it non-blocking with an ioctl. accept4(SOCK_NONBLOCK)
// does both in one call (issue 20). The wait for a connection is Asio's own reactor
// operation, so the listener stays registered with epoll once, as Asio's accept keeps it.
class NonBlockingAcceptor : public tcp::acceptor {
 public:
  using tcp::acceptor::acceptor;

  // Accepts one connection into a socket of the io_context that `pick()` returns once the
  // connection is there (registered with that context's reactor, so that it never has to
  // move threads); `peer` gets the client's address before the handler runs.
  // Pick: asio::io_context&(). Handler: void(const error_code&, tcp::socket).
  template <class Pick, class Handler>
  void async_accept_non_blocking(Pick&& pick, tcp::endpoint& peer, Handler&& handler);

 private:
  template <class Pick, class Handler>
  class AcceptOp;
  // The listener's protocol (v4 or v6), as Asio keeps it: no getsockname.
  tcp protocol();
  // start_read_op (drained_read.hpp) on the listener; in nonblocking_accept.cpp, which
  // reaches Asio's private state.
  void start(asio::detail::reactor_op* op);
};

template <class Pick, class Handler>
class NonBlockingAcceptor::AcceptOp : public asio::detail::reactor_op {
 public:
  AcceptOp(int listener, tcp protocol, Pick pick, tcp::endpoint& peer, Handler handler)
      : reactor_op(error_code(), &do_perform, &do_complete),
        listener_(listener), protocol_(protocol), pick_(std::move(pick)), peer_(peer), handler_(std::move(handler)) {}

 private:
  static status do_perform(reactor_op* base) {
    auto* op = static_cast<AcceptOp*>(base);
    for (;;) {
      socklen_t len = static_cast<socklen_t>(op->peer_.capacity());
      const int fd = ::accept4(op->listener_, op->peer_.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        op->fd_ = fd;
        op->peer_.resize(len);
        op->ec_ = {};
        return done;
      }
      // A connection the client reset while it waited in the queue: take the next one.
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      op->ec_ = error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // owner is null when the io_context is destroyed with the accept pending.
  static void do_complete(void* owner, asio::detail::operation* base, const error_code&, std::size_t) {
    std::unique_ptr<AcceptOp> op(static_cast<AcceptOp*>(base));
    if (owner == nullptr) {
      if (op->fd_ >= 0) ::close(op->fd_);
      return;
    }
    Handler handler = std::move(op->handler_);
    error_code ec = op->ec_;
    ReactorSocket socket(op->pick_());  // after an error, a closed socket that only carries it
    if (!ec) socket.adopt_non_blocking(op->protocol_, op->fd_, ec);
    op.reset();
    handler(ec, tcp::socket(std::move(socket)));
  }

  int listener_;
  tcp protocol_;
  Pick pick_;
  tcp::endpoint& peer_;
  int fd_ = -1;
  Handler handler_;
};

template <class Pick, class Handler>
void NonBlockingAcceptor::async_accept_non_blocking(Pick&& pick, tcp::endpoint& peer, Handler&& handler) {
  start(new AcceptOp<std::decay_t<Pick>, std::decay_t<Handler>>(native_handle(), protocol(), std::forward<Pick>(pick), peer,
                                                                std::forward<Handler>(handler)));
}

}  // namespace smtp::daemon
