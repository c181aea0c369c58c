// The relay's decoder hook: what a session tells whoever watches its bytes.
#pragma once

#include "daemon/session_types.hpp"

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
  virtual ~SessionObserver() = default;
  virtual void on_data(Dir dir, std::span<const char> bytes) = 0;
  virtual void on_eof(Dir) {}
  // The daemon answered the client itself (421 or the block reply) and will close.
  virtual void on_refused(std::string_view /*reply*/, std::string_view /*why*/) {}
  // The observer may refine the reason: it knows whether the client said QUIT.
  virtual Termination on_close(Termination reason) { return reason; }
  // One JSON object describing the live session, for /sessions.
  virtual void append_json(std::string& out) const = 0;
};

}  // namespace smtp::daemon
