// The relay's decoder hook: what a session tells whoever watches its bytes.
#pragma once

#include "daemon/session_types.hpp"

#include <openssl/ssl.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace smtp::daemon {

// Called on the session's own thread, synchronously, before the bytes are forwarded,
// so the watcher has seen a server's 354 before the client can act on it. It must not
// block: anything slow goes behind a queue.
class SessionObserver {
 public:
  // Where STARTTLS stands, for a relay that terminates TLS (see proto::Decoder).
  struct Starttls {
    bool awaiting = false;         // the client said STARTTLS, the server has not answered
    bool started = false;          // the server answered 220
    std::size_t client_tail = 0;   // bytes of the last client read after the STARTTLS line
    std::size_t server_tail = 0;   // bytes of the last server read after the 220
  };

  virtual ~SessionObserver() = default;
  virtual void on_data(Dir dir, std::span<const char> bytes) = 0;
  virtual void on_eof(Dir) {}
  // The daemon answered the client itself (421 or the block reply) and will close.
  virtual void on_refused(std::string_view /*reply*/, std::string_view /*why*/) {}
  // The observer may refine the reason: it knows whether the client said QUIT.
  virtual Termination on_close(Termination reason) { return reason; }
  virtual Starttls starttls() const { return {}; }
  // The daemon discarded this many client bytes sent after STARTTLS, before its 220.
  virtual void on_starttls_injection(std::size_t /*bytes*/) {}
  // A TLS handshake the daemon made ended; `ssl` is the finished session on success.
  virtual void on_tls_handshake(TlsSide, TlsResult, const SSL* /*ssl*/, std::string_view /*detail*/) {}
  // One JSON object describing the live session, for /sessions.
  virtual void append_json(std::string& out) const = 0;
};

}  // namespace smtp::daemon
