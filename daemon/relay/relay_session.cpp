#include "daemon/relay/relay_session.hpp"

#include "daemon/address.hpp"
#include "daemon/relay/lcid.hpp"
#include "daemon/relay/original_destination.hpp"
#include "daemon/relay/proxy_protocol.hpp"

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace smtp::daemon {
namespace {

constexpr std::string_view kUpstreamUnavailable = "421 4.4.1 Upstream unavailable\r\n";
// Postfix's words for its own per-client limit; a 421 says "try again later".
constexpr std::string_view kTooManyConnections = "421 4.7.0 Error: too many connections from your address\r\n";
// After our own reply we read and discard what the client still sends, so that closing
// does not reset the connection and destroy the reply in flight; but not for long.
constexpr auto kRefusalLinger = std::chrono::seconds(2);

}  // namespace

RelaySession::RelaySession(Worker& worker, ListenerRuntime& listener, std::shared_ptr<const config::Config> config,
                           tcp::socket client, const tcp::endpoint& peer)
    : worker_(worker),
      listener_(listener),
      config_(std::move(config)),
      settings_(config_->listeners[listener.index]),
      client_(std::move(client)),
      upstream_(worker.context()),
      to_server_(*this, client_, upstream_, Dir::client_to_server),
      to_client_(*this, upstream_, client_, Dir::server_to_client),
      timer_(worker.context()),
      client_endpoint_(peer),
      lcid_(next_lcid()),
      last_activity_(Clock::now()) {
  observer_ = listener_.observers->open(lcid_, *config_);
  worker_.add(*this);
}

RelaySession::~RelaySession() {
  release_slot();
  worker_.session_gone();  // the acceptor counted it in when it placed it here (pick_worker)
}

void RelaySession::release_slot() {
  // Once, at the close or else at the end: the slot is free before the client sees the
  // close, so a client that reconnects at once is not refused by max_connections for a
  // session that is already over.
  if (std::exchange(holds_slot_, false)) listener_.active.fetch_sub(1, std::memory_order_relaxed);
}

void RelaySession::start() {
  error_code ec;
  if (!client_.socket().non_blocking()) client_.socket().non_blocking(true, ec);  // accepted non-blocking: no ioctl
  client_.socket().set_option(tcp::no_delay(true), ec);
  if (settings_.proxy_protocol_in) {
    if (!in_any(settings_.trusted_proxies, client_endpoint_.address())) {
      spdlog::warn("[{}] PROXY header refused: {} is not a trusted proxy", lcid_, client_endpoint_.address().to_string());
      observer_->on_proxy_refused(client_endpoint_, "not a trusted proxy");
      return close(Termination::blocked);
    }
    arm_timer(Clock::now() + config_->timeouts.proxy_header);
    return wait_proxy_header();
  }
  connect_upstream();
}

void RelaySession::wait_proxy_header() {
  client_.async_wait_readable([self = shared_from_this()](const error_code& ec) { self->on_proxy_readable(ec); });
}

void RelaySession::on_proxy_readable(const error_code& ec) {
  if (closed()) return;
  if (ec) return close(Termination::client_abort);
  // Peek, so that nothing past the header is consumed here: the bytes after it are the
  // client's first SMTP bytes and the pump reads them as usual. Whatever a peek shows
  // while the header is still incomplete is header, so it is consumed into proxy_buf_;
  // otherwise the socket stays readable and the wait would fire again at once.
  std::array<std::uint8_t, kMaxProxyHeader> buf;
  const std::size_t have = proxy_buf_.size();
  std::memcpy(buf.data(), proxy_buf_.data(), have);
  error_code rec;
  const std::size_t n = client_.socket().receive(asio::buffer(buf.data() + have, buf.size() - have), tcp::socket::message_peek, rec);
  if (rec == asio::error::would_block || rec == asio::error::try_again) return wait_proxy_header();
  if (rec || n == 0) return close(Termination::client_abort);
  ProxyHeader header;
  switch (parse_proxy_header({buf.data(), have + n}, header)) {
    case ProxyParse::incomplete:
      if (have + n < buf.size()) {
        client_.socket().receive(asio::buffer(buf.data() + have, n), 0, rec);
        if (rec) return close(Termination::client_abort);
        proxy_buf_.append(reinterpret_cast<const char*>(buf.data()) + have, n);
        return wait_proxy_header();
      }
      [[fallthrough]];
    case ProxyParse::invalid:
      spdlog::warn("[{}] malformed PROXY header from {}", lcid_, client_endpoint_.address().to_string());
      observer_->on_proxy_refused(client_endpoint_, "malformed PROXY header");
      return close(Termination::blocked);
    case ProxyParse::complete:
      break;
  }
  client_.socket().receive(asio::buffer(buf.data() + have, header.length - have), 0, rec);  // exactly the header's rest
  if (rec) return close(Termination::client_abort);
  std::string().swap(proxy_buf_);
  if (header.has_address) {
    client_endpoint_ = header.source;
    local_endpoint_ = header.destination;
  }
  connect_upstream();
}

void RelaySession::connect_upstream() {
  // Where to relay is known before watching starts, so that the session's upstream (in
  // the transcript, the metrics and the store) names the remote an intercepted client
  // dialled rather than "original-destination".
  resolve_target();
  const auto admission =
      observer_->on_client(client_endpoint_, target_ ? upstream_text(*target_) : settings_.upstream_text());
  if (settings_.tls.mode == config::TlsMode::terminate) tls_ = listener_.tls.load();
  if (admission != Admission::relay) {
    const std::string_view reply = admission == Admission::client_limit ? kTooManyConnections : config_->flag.block_reply;
    observer_->on_blocked(reply, admission);
    // A client that expects TLS from the first byte could not read a cleartext reply,
    // and a handshake for a blocked address would be CPU spent on it: just close.
    if (settings_.tls.implicit) return close(Termination::blocked);
    return refuse(reply, Termination::blocked);
  }
  // Implicit TLS is terminated before the upstream is dialled, so that even a 421
  // reaches the client inside TLS.
  if (tls_ && settings_.tls.implicit) return start_client_tls();
  dial_upstream();
}

void RelaySession::resolve_target() {
  if (!settings_.original_destination()) {
    target_ = to_endpoint(settings_.upstream);
    return;
  }
  const auto dialled = dialled_destination(client_.socket());
  if (!dialled) {
    no_target_ = "no original destination";
    return;
  }
  // Our own upstream connection, redirected back by a rule that caught it too.
  error_code ec;
  const auto peer = client_.socket().remote_endpoint(ec);
  if (!ec && OwnPorts::contains(peer.port()) && is_local_address(peer.address())) {
    no_target_ = "redirected back: the client is the sensor's own upstream connection (" + upstream_text(peer) + ")";
    return;
  }
  const auto verdict = classify_destination(*dialled, listener_.all_listens, listener_.config.listen.port,
                                            [](const asio::ip::address& a) { return is_local_address(a); });
  if (verdict == Interception::relay) {
    target_ = dialled;
    return;
  }
  no_target_ = std::string(to_string(verdict)) + " (" + upstream_text(*dialled) + ")";
}

void RelaySession::dial_upstream() {
  phase_ = Phase::connecting;
  if (!target_) {
    spdlog::warn("[{}] refused {}: {}", lcid_, client_endpoint_.address().to_string(), no_target_);
    return refuse_unavailable(no_target_);
  }
  if (settings_.source == config::Source::client || settings_.original_destination()) {
    std::string why;
    error_code ec;
    const bool bound = settings_.source == config::Source::client ? bind_to_client(why, ec) : bind_own_port(why, ec);
    if (!bound) {
      spdlog::error("[{}] {}", lcid_, why);
      // Out of descriptors is the daemon's own shortage, as in on_connected.
      const bool ours = ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system;
      return refuse_unavailable(why,
                                ours ? SessionObserver::Unavailable::descriptors : SessionObserver::Unavailable::upstream);
    }
  }
  connected_ = Clock::now();  // until connected: when the attempt began
  arm_timer(connected_ + config_->timeouts.connect);
  connect_socket();
}

void RelaySession::connect_socket() {
  // By hand rather than Asio's async_connect: the socket is made non-blocking and
  // Nagle-free once, before the connect (Asio's connect sets O_NONBLOCK itself, and the
  // pump's reads then a second time), and the outcome is one getsockopt after epoll
  // says writable (Asio's connect op polls the socket first). Three system calls fewer
  // per session.
  auto& s = upstream_.socket();
  error_code ec;
  if (!s.is_open()) upstream_.open_non_blocking(target_->protocol(), ec);
  else s.non_blocking(true, ec);  // opened early, to bind a transparent source
  if (!ec) s.set_option(tcp::no_delay(true), ec);
  if (ec) return on_connected(ec);
  if (::connect(s.native_handle(), target_->data(), static_cast<socklen_t>(target_->size())) == 0) return on_connected({});
  if (errno != EINPROGRESS) return on_connected({errno, asio::error::get_system_category()});
  upstream_.watch_peer_close_with_next_wait();  // the wait's epoll_ctl carries EPOLLRDHUP
  s.async_wait(tcp::socket::wait_write, [self = shared_from_this()](const error_code& wait_ec) {
    if (wait_ec) return self->on_connected(wait_ec);
    // A wakeup that says writable and nothing of an error is a connect that succeeded;
    // only otherwise is the outcome asked for (one getsockopt fewer per session).
    int err = 0;
    socklen_t len = sizeof err;
    if (!self->upstream_.connected_cleanly() &&
        ::getsockopt(self->upstream_.socket().native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
    self->on_connected(err == 0 ? error_code{} : error_code{err, asio::error::get_system_category()});
  });
}

bool RelaySession::bind_own_port(std::string& why, error_code& ec) {
  // Bound before the connect, so the port is registered before the SYN leaves: a rule
  // that redirects this connection back to us is recognised on arrival (own_ports.hpp).
  auto& s = upstream_.socket();
  const bool v6 = target_->address().is_v6();
  s.open(v6 ? tcp::v6() : tcp::v4(), ec);
  // An explicit bind reserves its port for every destination: SO_REUSEADDR lets it take
  // ports whose earlier connections wait in TIME_WAIT, as connect()'s own choice would.
  if (!ec) s.set_option(tcp::socket::reuse_address(true), ec);
  if (!ec) s.bind(tcp::endpoint(v6 ? tcp::v6() : tcp::v4(), 0), ec);
  const auto local = ec ? tcp::endpoint() : s.local_endpoint(ec);
  if (ec) {
    why = "cannot open the upstream socket: " + ec.message();
    return false;
  }
  own_port_.set(local.port());
  return true;
}

bool RelaySession::bind_to_client(std::string& why, error_code& ec) {
  // Like HAProxy's `usesrc clientip`: the upstream connection leaves from the client's
  // own address, so the MTA sees the real client without the PROXY protocol. Binding a
  // foreign address needs IP_TRANSPARENT, hence CAP_NET_ADMIN.
  const auto client = unmapped(client_endpoint_.address());
  if (client.is_v6() != target_->address().is_v6()) {
    why = "source: client: client " + client.to_string() + " and upstream " + upstream_text(*target_) + " are of different IP families";
    return false;
  }
  auto& s = upstream_.socket();
  s.open(client.is_v6() ? tcp::v6() : tcp::v4(), ec);
  if (ec) {
    why = "source: client: cannot open the upstream socket: " + ec.message();
    return false;
  }
  const int on = 1;
  const int rc = client.is_v6() ? ::setsockopt(s.native_handle(), SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof on)
                                : ::setsockopt(s.native_handle(), SOL_IP, IP_TRANSPARENT, &on, sizeof on);
  if (rc != 0) {
    why = std::string("source: client: IP_TRANSPARENT refused (needs CAP_NET_ADMIN): ") + std::strerror(errno);
    return false;
  }
  s.bind(tcp::endpoint(client, 0), ec);
  if (ec) {
    why = "source: client: cannot bind to the client address " + client.to_string() + ": " + ec.message();
    return false;
  }
  return true;
}

void RelaySession::on_connected(const error_code& ec) {
  // The connect timeout closes the socket and refuses; the cancelled connect then lands
  // here and must not refuse a second time.
  if (phase_ != Phase::connecting) return;
  if (ec) {
    spdlog::info("[{}] upstream connect failed: {}", lcid_, ec.message());
    // Out of descriptors is the daemon's own shortage, not the upstream's fault.
    const bool ours = ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system;
    return refuse_unavailable("upstream connect failed: " + ec.message(),
                              ours ? SessionObserver::Unavailable::descriptors : SessionObserver::Unavailable::upstream);
  }
  observer_->on_upstream_connected(Clock::now() - connected_);
  connected_ = Clock::now();
  if (tls_ && settings_.tls.implicit && settings_.tls.upstream_implicit) return start_upstream_tls();
  to_server_.prime(proxy_header());
  begin_relaying();
}

void RelaySession::begin_relaying() {
  if (tls_step_ == TlsStep::handshaking) tls_step_ = TlsStep::done;
  phase_ = Phase::relaying;
  last_activity_ = Clock::now();
  // While relaying, on_timer checks the deadline and re-arms to it, so a timer already due
  // sooner (the connect's or a handshake's) may stay: re-arming it cost most sessions a
  // timerfd_settime, their new deadline being the worker's earliest (issue 20).
  const auto due = timer_.expiry();
  if (due <= last_activity_ || due > relay_deadline()) arm_timer(relay_deadline());
  // Both read at once: the upstream's banner is usually there by now (issue 20).
  to_server_.resume_now();
  if (!closed()) to_client_.resume_now();
}

std::string RelaySession::proxy_header() {
  if (settings_.proxy_protocol_out == config::ProxyProtocol::none) return {};
  if (local_endpoint_.port() == 0) {  // not from a PROXY header: the address the client dialled
    error_code ignored;
    local_endpoint_ = client_.socket().local_endpoint(ignored);
  }
  switch (settings_.proxy_protocol_out) {
    case config::ProxyProtocol::none: break;
    case config::ProxyProtocol::v1: return make_proxy_v1(client_endpoint_, local_endpoint_);
    case config::ProxyProtocol::v2: return make_proxy_v2(client_endpoint_, local_endpoint_);
  }
  return {};
}

void RelaySession::watch(Dir dir, std::span<const char> bytes) {
  last_activity_ = Clock::now();
  if (dir == Dir::server_to_client) greeted_ = true;
  observer_->on_data(dir, bytes);
}

std::size_t RelaySession::on_bytes(Dir dir, std::span<const char> bytes) {
  watch(dir, bytes);
  return starttls_cut(dir, bytes);
}

void RelaySession::on_pump_error(Dir dir, const error_code& ec, bool reading) {
  // A refusal owns the close: the pumps' reads it cancelled land here and must not
  // turn an upstream_error into a server_close or cut the linger short.
  if (phase_ == Phase::refusing) return;
  // Whoever broke the connection is the one whose socket failed: reading from the
  // client, or writing to it, both mean the client went away.
  const bool client_side = (dir == Dir::client_to_server) == reading;
  spdlog::debug("[{}] {} side error: {}", lcid_, client_side ? "client" : "upstream", ec.message());
  close(client_side ? Termination::client_abort : Termination::server_close);
}

void RelaySession::on_pump_finished(Dir dir) {
  observer_->on_eof(dir);
  if (phase_ == Phase::refusing) return;
  if (dir == Dir::client_to_server && !to_client_.finished()) client_finished_first_ = true;
  if (to_server_.finished() && to_client_.finished())
    close(client_finished_first_ ? Termination::client_abort : Termination::server_close);
}

void RelaySession::refuse_unavailable(std::string_view why, SessionObserver::Unavailable cause) {
  upstream_.close();
  // A target refused before any dial (transparent mode) has had its own warning.
  if (target_ && cause == SessionObserver::Unavailable::upstream)
    if (const auto n = listener_.upstream_warnings.occurred())
      spdlog::warn("listener '{}': upstream {} unavailable: {} ({} session{} refused since the last such warning)",
                   listener_.config.name, upstream_text(*target_), why, n, n == 1 ? "" : "s");
  observer_->on_upstream_unavailable(kUpstreamUnavailable, why, cause);
  refuse(kUpstreamUnavailable, Termination::upstream_error);
}

void RelaySession::refuse(std::string_view reply, Termination reason) {
  phase_ = Phase::refusing;
  refusal_ = reply;
  refuse_reason_ = reason;
  // A refusal can come mid-relay (no greeting in time): the pumps stop, and only the
  // drain below reads the client from now on.
  error_code ignored;
  client_.socket().cancel(ignored);
  arm_timer(Clock::now() + kRefusalLinger);
  if (client_.tls()) {
    // Inside TLS: one short record into a fresh connection, which the socket takes whole.
    const std::string line = std::string(refusal_) + (refusal_.ends_with("\r\n") ? "" : "\r\n");
    error_code ec;
    observer_->on_own_reply(client_.write_some(line, ec));
    if (ec) return close(reason);
    client_.shutdown_send();
    return drain_after_refusal();
  }
  const std::array<asio::const_buffer, 2> lines{asio::buffer(refusal_.data(), refusal_.size()),
                                                 asio::buffer("\r\n", refusal_.ends_with("\r\n") ? 0 : 2)};
  // A short reply into a fresh socket: the async write completes at once in practice.
  asio::async_write(client_.socket(), lines, [self = shared_from_this(), reason](const error_code& ec, std::size_t n) {
    self->observer_->on_own_reply(n);
    if (self->closed()) return;
    if (ec) return self->close(reason);
    self->client_.shutdown_send();
    self->drain_after_refusal();
  });
}

void RelaySession::drain_after_refusal() {
  client_.async_wait_readable([self = shared_from_this()](const error_code& ec) {
    if (self->closed()) return;
    if (!ec) {
      std::array<char, 4096> sink;
      error_code rec;
      while (!rec) self->client_.read_some(sink, rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) return self->drain_after_refusal();
    }
    self->close(self->refuse_reason_);
  });
}

RelaySession::Clock::time_point RelaySession::relay_deadline() const {
  auto deadline = last_activity_ + config_->timeouts.idle;
  if (!greeted_) deadline = std::min(deadline, connected_ + config_->timeouts.greeting);
  return deadline;
}

void RelaySession::arm_timer(Clock::time_point when) {
  timer_.expires_at(when);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_timer(ec); });
}

void RelaySession::on_timer(const error_code& ec) {
  if (ec || closed()) return;
  const auto now = Clock::now();
  switch (phase_) {
    case Phase::proxy_header:
      spdlog::warn("[{}] no PROXY header from {} in time", lcid_, client_endpoint_.address().to_string());
      observer_->on_proxy_refused(client_endpoint_, "no PROXY header in time");
      return close(Termination::blocked);
    case Phase::connecting:
      spdlog::info("[{}] upstream connect timed out", lcid_);
      return refuse_unavailable("upstream connect timed out");
    case Phase::relaying: {
      // A watchdog rather than a timer reset per read: activity only moves a timestamp.
      const auto deadline = relay_deadline();
      if (now < deadline) return arm_timer(deadline);
      if (!greeted_) {
        // The client has heard nothing from the server yet, so it can still be told.
        spdlog::info("[{}] upstream sent no greeting in time", lcid_);
        return refuse_unavailable("upstream sent no greeting in time");
      }
      return close(Termination::idle_timeout);
    }
    case Phase::handshaking:
      return on_handshake_timeout();
    case Phase::refusing:
      return close(refuse_reason_);
    case Phase::closed:
      return;
  }
}

void RelaySession::close(Termination reason) {
  if (closed()) return;
  phase_ = Phase::closed;
  release_slot();
  error_code ignored;
  timer_.cancel(ignored);
  client_.close();
  upstream_.close();
  own_port_.reset();
  observer_->on_close(reason);
  unlink();
}

void RelaySession::append_json(std::string& out) const { observer_->append_json(out); }

}  // namespace smtp::daemon
