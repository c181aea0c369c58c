// One side of a relayed session: a socket driven by readiness and non-blocking I/O.
#pragma once

#include "daemon/asio.hpp"

#include <cstddef>
#include <span>

namespace smtp::daemon {

// The pump never owns a buffer while a side is idle: it waits for readiness, then
// reads into a per-thread scratch buffer. Everything a pump does to a socket goes
// through this class, so that a TLS transport (SSL_read/SSL_write over the same
// non-blocking fd, which fits the same readiness model) can take over mid-session
// after STARTTLS without the pump changing.
class Stream {
 public:
  explicit Stream(tcp::socket socket) : socket_(std::move(socket)) {}
  explicit Stream(asio::io_context& context) : socket_(context) {}

  tcp::socket& socket() { return socket_; }
  bool is_open() const { return socket_.is_open(); }

  // A read that Asio may complete at once, and that queues without a system call after
  // a short read: cheaper than async_wait, which re-arms epoll every time.
  template <class Handler>
  void async_read_some(std::span<char> into, Handler&& h) {
    socket_.async_read_some(asio::buffer(into.data(), into.size()), std::forward<Handler>(h));
  }
  template <class Handler>
  void async_wait_readable(Handler&& h) {
    socket_.async_wait(tcp::socket::wait_read, std::forward<Handler>(h));
  }
  template <class Handler>
  void async_wait_writable(Handler&& h) {
    socket_.async_wait(tcp::socket::wait_write, std::forward<Handler>(h));
  }

  // Non-blocking; would_block means "wait for readiness", eof means the peer shut down.
  std::size_t read_some(std::span<char> into, error_code& ec) { return socket_.read_some(asio::buffer(into.data(), into.size()), ec); }
  std::size_t write_some(std::span<const char> from, error_code& ec) {
    return socket_.write_some(asio::buffer(from.data(), from.size()), ec);
  }

  void shutdown_send() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close() {
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  tcp::socket socket_;
};

}  // namespace smtp::daemon
