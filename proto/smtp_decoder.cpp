#include "proto/smtp_decoder.hpp"

#include <algorithm>

namespace smtp::proto {
namespace {

// Consecutive replies that pair with nothing or are not replies at all, before decoding gives up.
constexpr std::uint32_t desync_limit = 8;

Limits sane(Limits l) noexcept {
  l.max_line = std::max<std::size_t>(l.max_line, 1);
  l.max_pending = std::max<std::size_t>(l.max_pending, 1);
  return l;
}

}  // namespace

Decoder::Decoder(DecoderCallbacks& callbacks, Limits limits, Options options)
    : cb_(callbacks),
      limits_(sane(limits)),
      options_(options),
      client_framer_(limits_.max_line),
      server_framer_(limits_.max_line),
      content_framer_(limits_.max_line),
      assembler_(limits_.max_line),
      queue_(limits_.max_pending) {}

void Decoder::feed(Dir dir, std::span<const std::byte> bytes) noexcept {
  const std::string_view in(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const bool client = dir == Dir::client_to_server;
  (client ? stats_.client_bytes : stats_.server_bytes) += in.size();
  if (in.empty()) return;
  if (!sniffing_) {
    (client ? stats_.client_opaque : stats_.server_opaque) += in.size();
    return;
  }
  try {
    if (client) client_bytes(in);
    else server_bytes(in);
  } catch (...) {  // bad_alloc, or a callback that threw: stop decoding, never the relay
    stop("internal error");
  }
  settle();
}

void Decoder::close(Dir dir) noexcept {
  try {
    if (dir == Dir::client_to_server) {
      client_closed_ = true;
      client_framer_.reset();  // a server ignores a last line without its terminator
    } else {
      server_closed_ = true;
      AuthAttempt attempt;
      while (sniffing_ && auth_.end_of_session(attempt)) cb_.on_auth(attempt);
    }
  } catch (...) {
    stop("internal error");
  }
  if (client_closed_ && server_closed_) release_all();
}

void Decoder::anomaly(Anomaly kind, std::string_view detail) { cb_.on_anomaly(kind, detail); }

void Decoder::line_anomalies(const Line& line, std::string_view who) {
  if (line.over_long && !line.overflow_reported) anomaly(Anomaly::long_line, who);
  if (!line.crlf) anomaly(Anomaly::bare_lf, who);
  if (line.bare_cr) anomaly(Anomaly::bare_cr, who);
}

void Decoder::desync(std::string_view reason) {
  if (++desync_ >= desync_limit) stop(reason);
}

void Decoder::stop(std::string_view reason) noexcept {
  if (!sniffing_) return;
  sniffing_ = false;
  try {
    cb_.on_anomaly(Anomaly::sniffing_off, reason);
  } catch (...) {
  }
}

void Decoder::settle() noexcept {
  if (!sniffing_) {
    release_all();
    return;
  }
  client_framer_.trim();
  server_framer_.trim();
  content_framer_.trim();
  assembler_.trim();
  queue_.trim();
  if (gate_ == Gate::none && hold_.empty() && hold_.capacity() != 0) std::string().swap(hold_);
}

void Decoder::release_all() noexcept {
  for (auto* f : {&client_framer_, &server_framer_, &content_framer_}) {
    f->reset();
    f->trim();
  }
  assembler_.reset();
  assembler_.trim();
  queue_.clear();
  queue_.trim();
  std::string().swap(hold_);
}

std::uint32_t Decoder::push(LineKind kind, Verb verb, std::uint8_t flags, std::uint64_t length, std::uint64_t size,
                            std::string_view text) {
  PendingQueue::Entry e;
  e.kind = kind;
  e.verb = verb;
  e.flags = flags;
  e.length = length;
  e.size = size;
  const auto seq = queue_.push(e, text);
  if (seq == 0 && !overflow_told_) {
    overflow_told_ = true;
    anomaly(Anomaly::excessive_pending_commands, "pending command queue is full");
  }
  return seq;
}

void Decoder::start_gate(Gate gate, std::uint32_t seq, const Command& c) {
  gate_ = gate;
  gate_seq_ = seq;
  gate_told_ = false;
  gate_bdat_size_ = c.bdat_size;
  gate_bdat_last_ = c.bdat_last;
  if (seq == 0) {  // not queued, so its reply cannot be recognised: assume the common outcome
    assume_gate();
    return;
  }
  cmode_ = ClientMode::hold;
}

void Decoder::assume_gate() {
  assumed_ = gate_;
  assumed_seq_ = gate_seq_;
  const Gate g = gate_;
  gate_ = Gate::none;
  cmode_ = ClientMode::lines;
  switch (g) {
    case Gate::data:
      cmode_ = ClientMode::data;
      scanner_.reset();
      smuggling_told_ = false;
      break;
    case Gate::bdat:
      start_chunk(gate_bdat_size_, gate_bdat_last_);
      break;
    case Gate::starttls:
      cmode_ = ClientMode::opaque;
      break;
    case Gate::none:
      break;
  }
}

void Decoder::open_gate(bool accepted) {
  const Gate g = gate_;
  gate_ = Gate::none;
  cmode_ = ClientMode::lines;
  if (accepted && g == Gate::data) {
    cmode_ = ClientMode::data;
    scanner_.reset();
    smuggling_told_ = false;
  } else if (accepted && g == Gate::bdat) {
    start_chunk(gate_bdat_size_, gate_bdat_last_);
  }
  replay();
}

void Decoder::replay() {
  if (hold_.empty()) return;
  std::string held;
  held.swap(hold_);  // decoding the held bytes may hold again, into a fresh hold_
  client_bytes(held);
}

}  // namespace smtp::proto
