#include "daemon/relay/stream.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>

#include <cerrno>
#include <cstring>

namespace smtp::daemon {

error_code Stream::tls_error(int r, bool reading) {
  const int err = SSL_get_error(ssl_.get(), r);
  // A read that must write first waits for writability, and a write that must read
  // first waits for readability; otherwise each waits as usual.
  if (reading) wants_write_ = err == SSL_ERROR_WANT_WRITE;
  else wants_read_ = err == SSL_ERROR_WANT_READ;
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a bare FIN
      return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      if (errno != 0) return {errno, asio::error::get_system_category()};
      return asio::error::eof;
    default: {
      const unsigned long e = ERR_peek_last_error();
      ERR_clear_error();
      return {static_cast<int>(e), asio::error::get_ssl_category()};
    }
  }
}

void Stream::async_handshake(SslPtr ssl, bool server_role, std::function<void(std::string)> done) {
  clear_ssl_errors();
  if (!ssl || SSL_set_fd(ssl.get(), static_cast<int>(socket_.native_handle())) != 1) {
    done("cannot set up TLS: " + ssl_errors());
    return;
  }
  if (server_role) SSL_set_accept_state(ssl.get());
  else SSL_set_connect_state(ssl.get());
  ssl_ = std::move(ssl);
  handshake_step(std::move(done));
}

void Stream::handshake_step(std::function<void(std::string)> done) {
  clear_ssl_errors();
  const int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    wants_read_ = wants_write_ = false;
    return done("");
  }
  const int err = SSL_get_error(ssl_.get(), r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    socket_.async_wait(err == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                       [this, done = std::move(done)](const error_code& ec) mutable {
                         if (ec) return done(ec.message());
                         handshake_step(std::move(done));
                       });
    return;
  }
  std::string why;
  if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) why = errno != 0 ? std::strerror(errno) : "the peer closed";
  else why = ssl_errors();
  if (err == SSL_ERROR_SSL && SSL_get_verify_result(ssl_.get()) != X509_V_OK)
    why += std::string(" (certificate: ") + X509_verify_cert_error_string(SSL_get_verify_result(ssl_.get())) + ")";
  done(why);
}

}  // namespace smtp::daemon
