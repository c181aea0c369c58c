// The RelaySession's part in tls.mode: terminate: cutting both streams exactly where
// STARTTLS hands over to TLS (the StarttlsCut the observer reports, see
// session_observer.hpp), and the two handshakes (SPEC section 3).
#include "daemon/relay/relay_session.hpp"

#include <spdlog/spdlog.h>

#include <array>

namespace smtp::daemon {

std::size_t RelaySession::starttls_cut(Dir dir, std::span<const char> bytes) {
  const auto st = observer_->starttls_cut();
  if (dir == Dir::client_to_server) {
    if (tls_step_ != TlsStep::none || !st.awaiting) return bytes.size();
    // What follows STARTTLS waits for the reply: after a 220 it is plaintext injected
    // where only a handshake belongs (CVE-2011-0411), after a refusal it goes on up.
    tls_step_ = TlsStep::awaiting_reply;
    held_.assign(bytes.end() - static_cast<std::ptrdiff_t>(st.client_tail), bytes.end());
    to_server_.pause();
    return bytes.size() - st.client_tail;
  }
  if (tls_step_ != TlsStep::awaiting_reply) return bytes.size();
  if (st.started) {
    // The decoder has flagged the held bytes as starttls_injection; anything the client
    // sent since, before it can have seen this 220, is injected too.
    std::string().swap(held_);
    if (const std::size_t late = discard_client_plaintext(); late > 0) observer_->on_starttls_injection(late);
    tls_step_ = TlsStep::handshaking;
    enter_handshake_phase();
    to_client_.pause();  // the client's handshake begins once it has the whole 220
    begin_handshake(TlsSide::upstream);
    return bytes.size() - st.server_tail;
  }
  if (!st.awaiting) {  // refused: the session goes on in cleartext
    tls_step_ = TlsStep::none;
    to_server_.prime(held_);
    std::string().swap(held_);
    to_server_.resume();
  }
  return bytes.size();
}

std::size_t RelaySession::discard_client_plaintext() {
  // Bounded: a client that keeps a flood going past this fails its handshake anyway.
  constexpr int kMaxReads = 16;
  std::array<char, 4096> sink;
  std::size_t total = 0;
  for (int i = 0; i < kMaxReads; ++i) {
    error_code ec;
    const std::size_t n = client_.read_some(sink, ec);
    total += n;
    if (ec || n < sink.size()) break;
  }
  return total;
}

void RelaySession::on_pump_drained(Dir dir) {
  if (tls_step_ == TlsStep::handshaking && dir == Dir::server_to_client && !in_handshake(TlsSide::client) &&
      !client_.tls())
    begin_handshake(TlsSide::client);
}

void RelaySession::enter_handshake_phase() {
  phase_ = Phase::handshaking;
  arm_timer(Clock::now() + config_->timeouts.tls_handshake);
}

void RelaySession::start_client_tls() {
  tls_step_ = TlsStep::handshaking;
  enter_handshake_phase();
  begin_handshake(TlsSide::client);
}

void RelaySession::start_upstream_tls() {
  enter_handshake_phase();
  const auto header = std::make_shared<std::string>(proxy_header());
  if (header->empty()) return begin_handshake(TlsSide::upstream);
  // A PROXY header precedes the upstream's TLS, in cleartext, as it would on port 465.
  in_handshake(TlsSide::upstream) = true;
  asio::async_write(upstream_.socket(), asio::buffer(*header), [self = shared_from_this(), header](const error_code& ec, std::size_t) {
    if (self->closed()) return;
    self->in_handshake(TlsSide::upstream) = false;
    if (ec) return self->on_handshake(TlsSide::upstream, "sending the PROXY header: " + ec.message());
    self->begin_handshake(TlsSide::upstream);
  });
}

void RelaySession::begin_handshake(TlsSide side) {
  const bool client = side == TlsSide::client;
  in_handshake(side) = true;
  (client ? client_ : upstream_)
      .async_handshake(client ? tls_->new_server_session() : tls_->new_client_session(), client,
                       [self = shared_from_this(), side](std::string error) { self->on_handshake(side, error); });
}

void RelaySession::on_handshake(TlsSide side, const std::string& error) {
  if (closed()) return;
  in_handshake(side) = false;
  const bool client = side == TlsSide::client;
  const auto result = error.empty() ? TlsResult::success : TlsResult::failure;
  observer_->on_tls_handshake(side, result, error.empty() ? (client ? client_ : upstream_).ssl() : nullptr, error);
  if (!error.empty()) {
    spdlog::info("[{}] TLS handshake with {} failed: {}", lcid_, to_string(side), error);
    return close(client ? Termination::client_abort : Termination::upstream_error);
  }
  if (settings_.tls.implicit && client) return dial_upstream();
  // STARTTLS, or implicit TLS on both sides: relaying resumes when both are up.
  if (in_handshake(TlsSide::client) || in_handshake(TlsSide::upstream) || !client_.tls() || !upstream_.tls()) return;
  begin_relaying();
}

void RelaySession::on_handshake_timeout() {
  for (const auto side : {TlsSide::client, TlsSide::upstream}) {
    if (!in_handshake(side)) continue;
    observer_->on_tls_handshake(side, TlsResult::timeout, nullptr, "timed out");
  }
  close(in_handshake(TlsSide::client) ? Termination::client_abort : Termination::upstream_error);
}

}  // namespace smtp::daemon
