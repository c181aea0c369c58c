// A relayed SMTP connection: PROXY header, upstream connect, the two pumps, timeouts.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/relay/listener_runtime.hpp"
#include "daemon/relay/own_ports.hpp"
#include "daemon/relay/pump.hpp"
#include "daemon/relay/session_observer.hpp"
#include "daemon/relay/stream.hpp"
#include "daemon/relay/worker.hpp"
#include "daemon/session_types.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace smtp::daemon {

class RelaySession : public std::enable_shared_from_this<RelaySession>, public SessionHook {
 public:
  using Clock = std::chrono::steady_clock;

  // peer: the client's address as accept() returned it (saves a getpeername per session).
  RelaySession(Worker& worker, ListenerRuntime& listener, std::shared_ptr<const config::Config> config,
               tcp::socket client, const tcp::endpoint& peer);
  ~RelaySession();

  void start();
  void close(Termination reason);  // idempotent

  std::uint64_t lcid() const { return lcid_; }
  bool closed() const { return phase_ == Phase::closed; }
  bool watched() const { return observer_->watching(); }
  void append_json(std::string& out) const;  // for /sessions, once watched()

  // From the pumps. While a STARTTLS cut may come (a listener that terminates TLS, until
  // both handshakes are done), the decoder sees each read before the peer: on_bytes
  // returns how many of the bytes go on now. Otherwise the peer has them first and
  // watch() shows them to the decoder right after (Pump::read_on).
  bool cut_pending() const { return tls_ && tls_step_ != TlsStep::done; }
  std::size_t on_bytes(Dir dir, std::span<const char> bytes);
  void watch(Dir dir, std::span<const char> bytes);
  void on_pump_error(Dir dir, const error_code& ec, bool reading);
  void on_pump_finished(Dir dir);
  void on_pump_drained(Dir dir);  // a paused pump has written everything it had

 private:
  enum class Phase : std::uint8_t { proxy_header, connecting, relaying, handshaking, refusing, closed };
  // tls.mode terminate, STARTTLS: none -> awaiting_reply -> handshaking -> done, or back to
  // none when the upstream refuses. Implicit TLS starts at handshaking.
  enum class TlsStep : std::uint8_t { none, awaiting_reply, handshaking, done };

  void wait_proxy_header();
  void on_proxy_readable(const error_code& ec);
  void connect_upstream();  // after the deny and flag checks: dial, or TLS first
  void resolve_target();  // target_, or no_target_ saying why there is none
  void dial_upstream();
  // Before the connect; false with why (and ec for a failed open) if it cannot be done.
  bool bind_to_client(std::string& why, error_code& ec);  // source: client
  bool bind_own_port(std::string& why, error_code& ec);   // original-destination: see own_ports.hpp
  void connect_socket();  // the connect itself, once the socket is open (and bound)
  void on_connected(const error_code& ec);
  std::string proxy_header();  // "" unless proxy_protocol_out is set
  // The client gets a 421: there is no upstream to relay to.
  void refuse_unavailable(std::string_view why,
                          SessionObserver::Unavailable cause = SessionObserver::Unavailable::upstream);
  // Says `reply` to the client (our only words: 421 or the block reply), then closes.
  void refuse(std::string_view reply, Termination reason);
  void drain_after_refusal();
  // tls.mode terminate (relay_tls.cpp): the STARTTLS cut and the handshakes.
  std::size_t starttls_cut(Dir dir, std::span<const char> bytes);
  std::size_t discard_client_plaintext();  // what the client sent before it saw the 220
  void enter_handshake_phase();  // the handshake deadline replaces the relay's
  bool& in_handshake(TlsSide side) { return handshaking_[static_cast<std::size_t>(side)]; }
  void start_client_tls();    // implicit TLS: the client's handshake, before dialling
  void start_upstream_tls();  // implicit TLS: the upstream's handshake, once connected
  void begin_relaying();
  void begin_handshake(TlsSide side);
  void on_handshake(TlsSide side, const std::string& error);
  void on_handshake_timeout();
  void arm_timer(Clock::time_point when);
  void on_timer(const error_code& ec);
  void release_slot();  // this session's place in listener_.active, given back once
  Clock::time_point relay_deadline() const;

  Worker& worker_;
  ListenerRuntime& listener_;
  std::shared_ptr<const config::Config> config_;
  const config::Listener& settings_;  // this listener in config_
  Stream client_;
  Stream upstream_;
  Pump to_server_;
  Pump to_client_;
  asio::steady_timer timer_;
  tcp::endpoint client_endpoint_;  // the real client: from the socket, or from a PROXY header
  tcp::endpoint local_endpoint_;   // what the client connected to: read when a PROXY header needs it
  std::unique_ptr<SessionObserver> observer_;
  std::optional<tcp::endpoint> target_;  // the upstream: fixed, or the original destination
  std::string no_target_;                // why there is no target_, for the log and the transcript
  OwnPort own_port_;                      // original-destination: our upstream socket's port
  std::shared_ptr<const TlsContexts> tls_;  // set when this listener terminates TLS
  std::string held_;  // client bytes after STARTTLS, until the reply: at most one read
  std::string proxy_buf_;  // a PROXY header that has arrived in part, at most kMaxProxyHeader
  std::uint64_t lcid_;
  Clock::time_point connected_;
  Clock::time_point last_activity_;
  Phase phase_ = Phase::proxy_header;
  bool holds_slot_ = true;  // counted in listener_.active (the accept counted it)
  bool greeted_ = false;  // the upstream has said something
  bool client_finished_first_ = false;
  TlsStep tls_step_ = TlsStep::none;
  std::array<bool, 2> handshaking_{};  // per TlsSide: a handshake is under way
  std::string_view refusal_;  // points at a constant or into config_
  Termination refuse_reason_ = Termination::blocked;
};

}  // namespace smtp::daemon
