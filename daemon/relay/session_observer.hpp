// What the relay tells whoever watches a session, and the one thing it asks back.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/session_types.hpp"

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace smtp::daemon {

// The watcher's verdict once the real client address is known. client_limit: the client
// already holds the listener's max_connections_per_client sessions (a 421, try later).
enum class Admission : std::uint8_t { relay, deny, flagged, client_limit };

// Where STARTTLS stands, for a relay that terminates TLS: the one call that flows back
// from the decoder into the relay. A client may pipeline plaintext after STARTTLS
// (CVE-2011-0411, "STARTTLS command injection"); if the relay forwarded those bytes,
// the server would read them as if they had come inside TLS. Only the decoder knows
// where the STARTTLS line ends and where the server's 220 ends, so the relay asks it
// after every read while a cut is pending, and holds back exactly the tail it names.
struct StarttlsCut {
  bool awaiting = false;         // the client said STARTTLS, the server has not answered
  bool started = false;          // the server answered 220
  std::size_t client_tail = 0;   // bytes of the last client read after the STARTTLS line
  std::size_t server_tail = 0;   // bytes of the last server read after the 220
};

// Called on the session's own thread, synchronously. on_data comes in the handler that
// read the bytes, right after they are written on (before, while a STARTTLS cut may come),
// and before any later event of the session: the watcher has seen a server's 354 before
// it sees what the client sends after it. A metric may trail the peer's copy by the
// microseconds of the decoding. Nothing here may block: anything slow goes behind a
// queue. The relay counts nothing itself; every event that a metric, a transcript line
// or a store row needs arrives here.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;

  // The real client is known (from the socket, or from a PROXY header): watching starts.
  virtual Admission on_client(const tcp::endpoint& client, std::string_view upstream) = 0;
  // The connection was refused before watching began: its PROXY header was untrusted,
  // malformed or late. `peer` is who connected (the proxy, or whoever posed as one).
  virtual void on_proxy_refused(const tcp::endpoint& peer, std::string_view why) = 0;
  virtual void on_upstream_connected(std::chrono::duration<double> took) = 0;
  // The client is about to be told 421: no upstream to relay to (why, for the transcript),
  // or the daemon itself had no descriptor left for the upstream socket.
  enum class Unavailable : std::uint8_t { upstream, descriptors };
  virtual void on_upstream_unavailable(std::string_view reply, std::string_view why, Unavailable cause) = 0;
  // The client is about to get the block reply (a deny or a blocking flag), or the 421
  // for a client over its limit.
  virtual void on_blocked(std::string_view reply, Admission why) = 0;
  // Bytes the daemon itself wrote to the client (a 421 or the block reply).
  virtual void on_own_reply(std::size_t bytes) = 0;

  virtual void on_data(Dir dir, std::span<const char> bytes) = 0;
  virtual void on_eof(Dir dir) = 0;
  virtual StarttlsCut starttls_cut() const = 0;
  // The relay discarded this many client bytes sent after STARTTLS, before its 220.
  virtual void on_starttls_injection(std::size_t bytes) = 0;
  // A TLS handshake the daemon made ended; `ssl` is the finished session on success.
  virtual void on_tls_handshake(TlsSide side, TlsResult result, const SSL* ssl, std::string_view detail) = 0;

  // The watcher may refine the reason (it knows whether the client said QUIT) and
  // returns the one that counts.
  virtual Termination on_close(Termination reason) = 0;

  virtual bool watching() const = 0;  // on_client has been called
  // One JSON object describing the live session, for /sessions; only while watching().
  virtual void append_json(std::string& out) const = 0;
};

// One per listener: a watcher for each connection it accepts.
class ObserverFactory {
 public:
  virtual ~ObserverFactory() = default;
  // At accept, before any PROXY header; the session keeps `config` alive for its life.
  virtual std::unique_ptr<SessionObserver> open(std::uint64_t lcid, const config::Config& config) = 0;
  // A connection closed at accept because the listener is at max_connections.
  virtual void on_over_capacity() = 0;
};

}  // namespace smtp::daemon
