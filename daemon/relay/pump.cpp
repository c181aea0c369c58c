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
// for bulk transfers, while a fair share (256 KB) goes to the other sessions on this thread.
constexpr int kReadsPerWakeup = 8;

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
  read_on(Readiness{});
}

void Pump::wait_readable(bool drained, bool sure) {
  if (paused_) return session_.on_pump_drained(dir_);
  from_.async_wait_to_read(
      [self = session_.shared_from_this(), this](const error_code& ec, Readiness readiness) { on_readable(ec, readiness); },
      drained, sure);
}

void Pump::on_readable(const error_code& ec, Readiness readiness) {
  if (session_.closed()) return;
  if (ec) return session_.on_pump_error(dir_, ec, /*reading=*/true);
  read_on(readiness);
}

void Pump::read_on(Readiness readiness) {
  const auto buf = scratch();
  // Whether a read of this very handler found the socket empty (a short cleartext read,
  // or would_block), and whether nothing, not even a FIN, can be behind it. Only such
  // first-hand evidence may tell the next wait to skip its recv().
  bool drained = false;
  bool sure = false;
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    std::size_t have = 0;
    bool eof = false;
    error_code rec;
    while (have < buf.size()) {
      const std::size_t want = buf.size() - have;
      const std::size_t n = from_.read_some(buf.subspan(have), rec);
      if (rec) {
        drained = sure = rec == asio::error::would_block || rec == asio::error::try_again;
        break;
      }
      have += n;
      if (n < want && !from_.tls()) {  // under TLS a read returns one record: read on
        // A wakeup that saw the peer's FIN in: the short read reached it, and the end of
        // file needs no recv() of its own (nor a trip through epoll: no edge would come).
        eof = readiness.woken && readiness.fin;
        drained = true;
        sure = readiness.woken;
        break;
      }
    }
    if (rec == asio::error::eof) eof = true;
    else if (rec && rec != asio::error::would_block && rec != asio::error::try_again) {
      return session_.on_pump_error(dir_, rec, /*reading=*/true);
    }
    if (have > 0) {
      const std::span<const char> bytes(buf.data(), have);
      if (session_.cut_pending()) {
        // The decoder first: the session may hold back a tail (plaintext where a TLS
        // handshake belongs) and pause this pump.
        const std::size_t pass = session_.on_bytes(dir_, bytes);
        if (session_.closed() || (pass > 0 && !forward(bytes.first(pass)))) return;
      } else if (!forward(bytes, /*then_watch=*/true)) {
        return;
      }
      if (paused_) return pending_size_ > 0 ? void() : session_.on_pump_drained(dir_);
    }
    if (eof) return end_of_input();  // after the pending bytes, if any, are flushed
    if (pending_size_ > 0) return;   // the peer is slow: stop reading until it drains
    if (have < buf.size()) break;    // the socket is drained
    drained = sure = false;
  }
  wait_readable(drained, sure);
}

bool Pump::forward(std::span<const char> bytes, bool then_watch) {
  error_code ec;
  std::size_t written = to_.write_some(bytes, ec);
  // The decoder right after the write, before its outcome is acted on: the peer's answer
  // does not wait for the decoding (one session's round trips 4-7 % quicker), and a
  // QUIT whose write finds the upstream gone is still seen. No other event of this session
  // can come between: the decoder sees both directions in order as before.
  if (then_watch) {
    session_.watch(dir_, bytes);
    if (session_.closed()) return false;
  }
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
