#include "daemon/relay/pump.hpp"

#include "daemon/relay/relay_session.hpp"

#include <array>
#include <cstring>

namespace smtp::daemon {
namespace {

// One scratch buffer per I/O thread serves every session on it: bytes live there only
// between a read and the write that follows it, unless the write is short.
std::span<char> scratch() {
  alignas(64) thread_local std::array<char, Pump::kScratchSize> buffer;
  return buffer;
}

// A few reads in a row when they keep filling the buffer: saves a trip through epoll
// for bulk transfers, while a fair share goes to the other sessions on this thread.
constexpr int kReadsPerWakeup = 4;

}  // namespace

void Pump::prime(std::span<const char> bytes) {
  if (!bytes.empty()) keep(bytes);
}

void Pump::start() {
  if (pending_size_ > 0) flush();
  else wait_readable();
}

void Pump::resume() {
  paused_ = false;
  start();
}

void Pump::resume_now() {
  paused_ = false;
  if (pending_size_ > 0) return flush();
  read_on(0, /*more=*/true);
}

void Pump::wait_readable(bool drained) {
  if (paused_) return session_.on_pump_drained(dir_);
  from_.async_read_some(
      probe_, [self = session_.shared_from_this(), this](const error_code& ec, std::size_t n) { on_read(ec, n); }, drained);
}

void Pump::on_read(const error_code& ec, std::size_t n) {
  if (session_.closed()) return;
  if (ec == asio::error::eof) return end_of_input();
  if (ec) return session_.on_pump_error(dir_, ec, /*reading=*/true);
  const auto buf = scratch();
  std::memcpy(buf.data(), probe_.data(), n);
  // A probe that came back short most likely drained the socket: no read is tried
  // then, so that a quiet connection costs one read per message. But when the peer's FIN
  // came with the bytes, its end of file is read now, not after another trip through epoll.
  read_on(n, n == probe_.size() || from_.fin_seen());
}

void Pump::read_on(std::size_t have, bool more) {
  const auto buf = scratch();
  // Whether a read of this very handler found the socket empty: a short cleartext read
  // or would_block. Only such first-hand evidence may tell the next read to skip its
  // recv() (the probe's own short read was already told to the reactor, in the reactor).
  bool drained = false;
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    bool eof = false;
    error_code rec;
    while (more && have < buf.size()) {
      const std::size_t want = buf.size() - have;
      const std::size_t n = from_.read_some(buf.subspan(have), rec);
      if (rec) {
        drained = rec == asio::error::would_block || rec == asio::error::try_again;
        break;
      }
      have += n;
      if (n < want && !from_.tls()) {  // under TLS a read returns one record: read on
        drained = true;
        break;
      }
    }
    if (rec == asio::error::eof) eof = true;
    else if (rec && rec != asio::error::would_block && rec != asio::error::try_again) {
      return session_.on_pump_error(dir_, rec, /*reading=*/true);
    }
    if (have > 0) {
      const std::span<const char> bytes(buf.data(), have);
      // The decoder sees the bytes before the peer does; the session may hold back a
      // tail (plaintext where a TLS handshake belongs) and pause this pump.
      const std::size_t pass = session_.on_bytes(dir_, bytes);
      if (session_.closed() || (pass > 0 && !forward(bytes.first(pass)))) return;
      if (paused_) return pending_size_ > 0 ? void() : session_.on_pump_drained(dir_);
    }
    if (eof) return end_of_input();  // after the pending bytes, if any, are flushed
    if (pending_size_ > 0) return;   // the peer is slow: stop reading until it drains
    if (have < buf.size()) break;    // the socket is drained
    have = 0;
    more = true;
    drained = false;
  }
  wait_readable(drained);
}

bool Pump::forward(std::span<const char> bytes) {
  error_code ec;
  std::size_t written = to_.write_some(bytes, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) written = 0;
  else if (ec) {
    session_.on_pump_error(dir_, ec, /*reading=*/false);
    return false;
  }
  if (written < bytes.size()) {
    keep(bytes.subspan(written));
    to_.async_wait_writable([self = session_.shared_from_this(), this](const error_code& e) { on_writable(e); });
  }
  return true;
}

void Pump::keep(std::span<const char> rest) {
  // Only a short write lands here, so the copy is at most one read and never grows.
  auto fresh = std::make_unique<char[]>(pending_size_ + rest.size());
  if (pending_size_ > 0) std::memcpy(fresh.get(), pending_.get() + pending_offset_, pending_size_);
  std::memcpy(fresh.get() + pending_size_, rest.data(), rest.size());
  pending_ = std::move(fresh);
  pending_offset_ = 0;
  pending_size_ += rest.size();
}

void Pump::flush() {
  error_code ec;
  std::size_t written = to_.write_some({pending_.get() + pending_offset_, pending_size_}, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) written = 0;
  else if (ec) return session_.on_pump_error(dir_, ec, /*reading=*/false);
  pending_offset_ += written;
  pending_size_ -= written;
  if (pending_size_ > 0) {
    to_.async_wait_writable([self = session_.shared_from_this(), this](const error_code& e) { on_writable(e); });
    return;
  }
  pending_.reset();  // an idle session holds no buffer
  pending_offset_ = 0;
  if (eof_) end_of_input();
  else wait_readable();
}

void Pump::on_writable(const error_code& ec) {
  if (session_.closed()) return;
  if (ec) return session_.on_pump_error(dir_, ec, /*reading=*/false);
  flush();
}

void Pump::end_of_input() {
  eof_ = true;
  if (pending_size_ > 0) return;  // flush() comes back here once the peer has it all
  if (finished_) return;
  finished_ = true;
  to_.shutdown_send();  // keep half-close: the peer sees EOF, the other direction flows on
  session_.on_pump_finished(dir_);
}

}  // namespace smtp::daemon
