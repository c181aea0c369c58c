// One side of a relayed session: a socket driven by readiness and non-blocking I/O, in
// cleartext or, once the sensor has terminated TLS on it, through OpenSSL.
#pragma once

#include "daemon/asio.hpp"
#include "daemon/relay/drained_read.hpp"
#include "daemon/relay/tls_context.hpp"

#include <cstddef>
#include <functional>
#include <span>
#include <string>

namespace smtp::daemon {

// The pump never owns a buffer while a side is idle: it waits for readiness, then
// reads into a per-thread scratch buffer. Everything a pump does to a socket goes
// through this class, so that TLS (SSL_read/SSL_write over the same non-blocking fd,
// which fits the same readiness model) can take over mid-session after STARTTLS
// without the pump changing.
class Stream {
 public:
  explicit Stream(tcp::socket accepted) : socket_(std::move(accepted)) {}
  explicit Stream(asio::io_context& context) : socket_(context) {}

  tcp::socket& socket() { return socket_; }
  void open_non_blocking(const tcp& protocol, error_code& ec) { socket_.open_non_blocking(protocol, ec); }
  // Before an async_wait on socket(): see ReactorSocket::watch_peer_close_with_next_wait.
  void watch_peer_close_with_next_wait() { socket_.watch_peer_close_with_next_wait(); }
  bool is_open() const { return socket_.is_open(); }
  // The wakeup that ended a connect's wait for writability reported neither error nor
  // hang-up: the connect succeeded, no SO_ERROR to read.
  bool connected_cleanly() { return socket_.connected_cleanly(); }
  bool tls() const { return ssl_ != nullptr; }
  SSL* ssl() const { return ssl_.get(); }

  // Runs a TLS handshake on this stream's socket (server role: we face the client), and
  // on success keeps the session so that every later read and write is TLS. The
  // handler gets "" or OpenSSL's reason for the failure.
  void async_handshake(SslPtr ssl, bool server_role, std::function<void(std::string)> done);

  // Waits until a read_some() is worth trying; the handler gets (error_code, Readiness).
  // In cleartext, cheaper than async_wait, which re-arms epoll every time: the wait ends at
  // once unless the caller's own read just drained the socket (`drained`; `sure`: no FIN
  // can be behind it), and in a wakeup says whether the peer's FIN came with it
  // (drained_read.hpp, issue 20). Under TLS, ends at once while OpenSSL holds bytes, which
  // no poll would announce, unless the caller's read just came back empty-handed (only
  // part of a record is there); otherwise waits for the readiness the last read needs.
  template <class Handler>
  void async_wait_to_read(Handler&& h, bool drained = false, bool sure = false) {
    if (!ssl_) return socket_.async_wait_to_read(std::forward<Handler>(h), drained, sure);
    if (!drained && SSL_has_pending(ssl_.get()) != 0)
      return asio::post(socket_.get_executor(), [h = std::forward<Handler>(h)]() mutable { h(error_code{}, Readiness{}); });
    socket_.async_wait(wants_write_ ? tcp::socket::wait_write : tcp::socket::wait_read,
                       [h = std::forward<Handler>(h)](const error_code& ec) mutable { h(ec, Readiness{}); });
  }
  template <class Handler>
  void async_wait_readable(Handler&& h) {
    socket_.async_wait(tcp::socket::wait_read, std::forward<Handler>(h));
  }
  template <class Handler>
  void async_wait_writable(Handler&& h) {
    // A TLS write can need the peer's bytes first (a key update, say).
    socket_.async_wait(ssl_ && wants_read_ ? tcp::socket::wait_read : tcp::socket::wait_write, std::forward<Handler>(h));
  }

  // Non-blocking; would_block means "wait for readiness", eof means the peer shut down.
  std::size_t read_some(std::span<char> into, error_code& ec) {
    if (!ssl_) return socket_.read_some(asio::buffer(into.data(), into.size()), ec);
    std::size_t n = 0;
    clear_ssl_errors();
    const int r = SSL_read_ex(ssl_.get(), into.data(), into.size(), &n);
    if (r == 1) wants_write_ = false;
    return r == 1 ? (ec = {}, n) : (ec = tls_error(r, /*reading=*/true), 0);
  }
  std::size_t write_some(std::span<const char> from, error_code& ec) {
    if (!ssl_) return socket_.write_some(asio::buffer(from.data(), from.size()), ec);
    // With SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_write returns after each 16 KB record, so a
    // short count does not mean the socket is full, as it does in cleartext: write on
    // until OpenSSL says so. Else every record cost the pump a wait for writability
    // (an epoll_ctl and a trip through epoll) and a copy of the rest (issue 20).
    std::size_t done = 0;
    ec = {};
    while (done < from.size()) {
      std::size_t n = 0;
      clear_ssl_errors();
      const int r = SSL_write_ex(ssl_.get(), from.data() + done, from.size() - done, &n);
      if (r != 1) {
        const error_code e = tls_error(r, /*reading=*/false);
        if (done == 0) ec = e;  // else the bytes written count; the error comes again
        return done;
      }
      wants_read_ = false;
      done += n;
    }
    return done;
  }

  void shutdown_send() {
    if (ssl_) SSL_shutdown(ssl_.get());  // close_notify, best effort: the TCP FIN follows regardless
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close() {
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  // Maps SSL_get_error to what the pump understands, and notes when the operation
  // needs the opposite readiness (a read that must write, or the reverse).
  error_code tls_error(int r, bool reading);
  void handshake_step(std::function<void(std::string)> done);

  ReactorSocket socket_;
  SslPtr ssl_;
  bool wants_write_ = false;  // the last TLS read needs the socket writable
  bool wants_read_ = false;   // the last TLS write needs the socket readable
};

}  // namespace smtp::daemon
