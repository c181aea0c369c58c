// Decoder: the server direction (replies), FIFO pairing, and what each reply means for the session.
#include "proto/command_parser.hpp"
#include "proto/smtp_decoder.hpp"

namespace smtp::proto {
namespace {

// A reply quoted in an anomaly: at most 64 bytes, never ending inside a UTF-8 character
// (a cut sequence would turn into U+FFFD in the alert's JSON). Steps back over at most three
// continuation bytes, so a byte string that is not UTF-8 is still cut near 64.
std::string_view quoted(std::string_view text) noexcept {
  constexpr std::size_t kMax = 64;
  if (text.size() <= kMax) return text;
  std::size_t end = kMax;
  while (end > kMax - 3 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

Stage stage_of(const Command& c) noexcept {
  if (c.kind == LineKind::auth_response) return Stage::auth;
  if (c.kind == LineKind::end_of_data) return Stage::eod;
  switch (c.verb) {
    case Verb::ehlo:
    case Verb::helo: return Stage::helo;
    case Verb::mail: return Stage::mail;
    case Verb::rcpt: return Stage::rcpt;
    case Verb::data: return Stage::data;
    case Verb::bdat: return c.bdat_last ? Stage::eod : Stage::data;
    case Verb::auth: return Stage::auth;
    case Verb::starttls: return Stage::starttls;
    default: return Stage::other;
  }
}

}  // namespace

void Decoder::server_bytes(std::string_view in) {
  if (server_muted_) {
    stats_.server_opaque += in.size();
    return;
  }
  while (!in.empty() && sniffing_ && !server_opaque_) {
    Line line;
    if (!server_framer_.next(in, line)) {
      if (server_framer_.take_overflow()) anomaly(Anomaly::long_line, "reply");
      return;
    }
    server_line(line);
    if (server_muted_) {  // that line started TLS: the rest of the chunk is not to be believed
      server_framer_.reset();
      assembler_.reset();
      tls_server_tail_ = in.size();
      stats_.server_opaque += in.size();
      return;
    }
  }
  if (server_opaque_) stats_.server_opaque += in.size();
}

void Decoder::server_line(const Line& line) {
  ++stats_.server_lines;
  line_anomalies(line, "reply");
  bool malformed = false;
  const auto step = assembler_.add(line.text, line.over_long, malformed);
  if (step == ReplyAssembler::Step::invalid || malformed) {
    anomaly(Anomaly::invalid_reply, quoted(line.text));
    desync("the server does not speak SMTP");
  }
  if (step == ReplyAssembler::Step::done && sniffing_) handle_reply(assembler_.reply());
}

void Decoder::handle_reply(Reply& r) {
  if (!greeted_) {  // the banner pairs with the connection, not with anything the client sent
    greeted_ = true;
    desync_ = 0;
    r.greeting = true;
    r.stage = Stage::connect;
    cb_.on_reply(r, nullptr);
    return;
  }
  PendingQueue::Entry e;
  std::string_view text;
  const auto popped = queue_.pop(e, text);
  if (queue_.empty()) overflow_told_ = false;
  if (popped == PendingQueue::Pop::none) {
    if (cmode_ == ClientMode::data && scanner_.lookalikes() > 0) {
      end_data_at_lookalike(r);
      return;
    }
    cb_.on_reply(r, nullptr);
    if (r.code != 421) {  // 421 may come unasked: the server is closing the channel
      anomaly(Anomaly::unmatched_reply, quoted(r.text));
      desync("replies without commands");
    }
    return;
  }
  desync_ = 0;
  if (popped == PendingQueue::Pop::anonymous) {
    cb_.on_reply(r, nullptr);
    return;
  }
  // A command the client pipelined inside an AUTH exchange, before a 334 came, was read by the server as a
  // response (see apply_reply): the reply pairs with it as with one.
  const bool read_as_response = e.kind == LineKind::command && e.verb != Verb::auth && auth_.owns(e.seq);
  Command c;
  c.kind = read_as_response ? LineKind::auth_response : e.kind;
  c.verb = read_as_response ? Verb::auth : e.verb;
  if (c.kind == LineKind::command) parse_command(text, c);
  c.rendering = text;
  c.length = e.length;
  c.over_long = (e.flags & f_over_long) != 0;
  c.bare_lf = (e.flags & f_bare_lf) != 0;
  c.bare_cr = (e.flags & f_bare_cr) != 0;
  c.non_ascii = (e.flags & f_non_ascii) != 0;
  c.invalid = (e.flags & f_invalid) != 0;
  r.stage = stage_of(c);
  r.bad_command = e.kind != LineKind::end_of_data && !c.invalid && r.code >= 500 && r.code <= 504;
  cb_.on_reply(r, &c);
  apply_reply(e, c, r);  // last: replaying held bytes may reuse the queue text that `c` points into
}

void Decoder::apply_reply(const PendingQueue::Entry& e, const Command& c, const Reply& r) {
  const bool ok = r.klass() == 2;
  if (e.kind == LineKind::end_of_data) {
    finish_message(Transfer::data, e.size, e.length, 1, r, (e.flags & f_smuggling) != 0);
    return;
  }
  // A reply to a line of an open AUTH exchange is the exchange's. That holds even for a line the client sent
  // as a command, pipelined before a 334 came: the server read it as a response, so it never ran, and a gate
  // waiting on it opens as refused.
  if (auth_.owns(e.seq)) {
    auth_reply(r, e.seq, e.kind == LineKind::command && e.verb == Verb::auth, c.rendering == "*");
    if (gate_ != Gate::none && e.seq == gate_seq_) open_gate(false);
    else if (assumed_ != Gate::none && e.seq == assumed_seq_) stop("a gated command was read as an AUTH response");
    return;
  }
  if (e.kind == LineKind::auth_response) return;  // of an exchange already over: nothing to follow
  switch (c.verb) {
    case Verb::ehlo:
      if (ok) {
        caps_ = parse_capabilities(r.text);
        reset_transaction();
        cb_.on_capabilities(caps_);
      }
      break;
    case Verb::helo:
      if (ok) {
        caps_ = Capabilities{};
        reset_transaction();
      }
      break;
    case Verb::mail:
      if (ok) {
        reset_transaction();
        txn_.has_sender = true;
        txn_.null_sender = c.mail.null_path;
        txn_.sender.assign(c.mail.address.substr(0, 320));
      }
      break;
    case Verb::rcpt:
      if (ok) ++txn_.rcpts;
      break;
    case Verb::rset:
      if (ok) reset_transaction();
      break;
    case Verb::quit:
      if (ok) quit_acked_ = true;
      break;
    case Verb::data:
      if (gate_ == Gate::data && e.seq == gate_seq_) {
        open_gate(r.code == 354);
      } else if (assumed_ == Gate::data && e.seq == assumed_seq_) {
        assumed_ = Gate::none;
        if (r.code != 354) stop("DATA refused after its content was already pipelined");
      }
      break;
    case Verb::bdat: {
      const bool read = r.code != 500 && r.code != 502;  // a server without BDAT never read the chunk
      if (read && c.bdat_valid) {
        txn_.bdat_bytes += c.bdat_size;
        ++txn_.chunks;
        if (c.bdat_last) finish_message(Transfer::bdat, txn_.bdat_bytes, txn_.bdat_bytes, txn_.chunks, r, false);
      }
      if (gate_ == Gate::bdat && e.seq == gate_seq_) {
        open_gate(read);
      } else if (assumed_ == Gate::bdat && e.seq == assumed_seq_) {
        assumed_ = Gate::none;
        if (!read) stop("BDAT refused after its chunk was taken as content");
      }
      break;
    }
    case Verb::starttls:
      if (gate_ == Gate::starttls && e.seq == gate_seq_ && r.code != 220) {
        open_gate(false);
      } else if (assumed_ == Gate::starttls && e.seq == assumed_seq_ && r.code != 220) {
        assumed_ = Gate::none;
        stop("STARTTLS refused after the client went opaque");
      } else if (r.code == 220) {
        start_tls();
      }
      break;
    default:
      break;
  }
}

void Decoder::finish_message(Transfer via, std::uint64_t size, std::uint64_t wire, std::uint32_t chunks,
                             const Reply& r, bool smuggling) {
  MessageInfo m;
  m.via = via;
  m.size = size;
  m.wire_bytes = wire;
  m.chunks = chunks;
  m.reply_code = r.code;
  m.enhanced = r.enhanced;
  m.accepted = r.klass() == 2;
  m.recipients = txn_.rcpts;
  m.null_sender = txn_.null_sender;
  m.smuggling = smuggling;
  if (txn_.has_sender) {
    m.sender = txn_.sender;
    const auto at = m.sender.rfind('@');
    if (at != std::string_view::npos) m.sender_domain = m.sender.substr(at + 1);
  }
  cb_.on_message(m);
  reset_transaction();  // after end of data the transaction is over, whatever the reply
}

void Decoder::auth_reply(const Reply& r, std::uint32_t seq, bool to_command, bool to_abort_line) {
  AuthAttempt attempt;
  if (auth_.reply(r, seq, to_command, to_abort_line, caps_.auth, attempt)) cb_.on_auth(attempt);
}

void Decoder::start_tls() {
  tls_ = true;
  gate_ = assumed_ = Gate::none;
  stats_.client_opaque += hold_.size();  // injected plaintext: never decoded (CVE-2011-0411)
  hold_.clear();
  cb_.on_tls_started();
  if (options_.decode_after_starttls) {
    server_muted_ = true;
    // RFC 3207: what was learnt before TLS is void; the client starts over with EHLO.
    caps_ = Capabilities{};
    helo_.clear();
    reset_transaction();
    reset_client_transaction();
    auth_.reset();
    client_framer_.reset();
    queue_.clear();
    cmode_ = ClientMode::lines;
  } else {
    cmode_ = ClientMode::opaque;
    server_opaque_ = true;
  }
}

// A reply while the client is still inside DATA, after an end-of-data look-alike: a lenient server took
// the look-alike as the end (the smuggling the anomaly warned about). Follow the server, so the message
// is counted and the session stays in step; the size is what was sent so far, and content after the
// look-alike is lost to decoding.
void Decoder::end_data_at_lookalike(Reply& r) {
  ContentInfo ci;
  ci.via = Transfer::data;
  ci.bytes = ci.wire_bytes = scanner_.wire();
  ci.last = true;
  cmode_ = ClientMode::lines;
  scanner_.reset();
  smuggling_told_ = false;
  reset_client_transaction();
  if (options_.data_lines) content_framer_.reset();
  cb_.on_content(ci);
  Command eod;
  eod.kind = LineKind::end_of_data;
  eod.verb = Verb::data;
  eod.rendering = ".";
  r.stage = Stage::eod;
  desync_ = 0;
  cb_.on_reply(r, &eod);
  finish_message(Transfer::data, ci.bytes, ci.wire_bytes, 1, r, true);
}

void Decoder::reset_transaction() noexcept {
  txn_.sender.clear();
  txn_.bdat_bytes = 0;
  txn_.rcpts = 0;
  txn_.chunks = 0;
  txn_.has_sender = false;
  txn_.null_sender = false;
}

}  // namespace smtp::proto
