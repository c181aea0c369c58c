// Decoder: the client direction (commands, AUTH responses, DATA content, BDAT chunks, gates).
#include <algorithm>
#include <cstring>

#include "proto/command_parser.hpp"
#include "proto/smtp_decoder.hpp"

namespace smtp::proto {

void Decoder::client_bytes(std::string_view in) {
  server_muted_ = false;
  if (!greeted_ && !pregreet_told_) {
    pregreet_told_ = true;
    anomaly(Anomaly::pregreet, "client sent before the greeting");
  }
  while (!in.empty() && sniffing_) {
    switch (cmode_) {
      case ClientMode::lines: {
        Line line;
        if (!client_framer_.next(in, line)) {
          if (client_framer_.take_overflow())
            anomaly(Anomaly::long_line, auth_.expects_response() ? "auth response" : "command");
          return;
        }
        const bool gated = gate_ == Gate::starttls;
        client_line(line);
        if (!gated && gate_ == Gate::starttls) starttls_tail_ = in.size();
        break;
      }
      case ClientMode::data:
        in = data_bytes(in);
        break;
      case ClientMode::bdat:
        in = bdat_bytes(in);
        break;
      case ClientMode::hold:
        in = hold_bytes(in);
        break;
      case ClientMode::opaque:
        stats_.client_opaque += in.size();
        return;
    }
  }
}

void Decoder::client_line(const Line& line) {
  ++stats_.client_lines;
  // Inside an AUTH exchange a line is a credential, whatever it looks like, while the mechanism still owes a
  // step or a 334 is unanswered. After that it is a command: PLAIN with an initial response is complete, and
  // a client that pipelines MAIL after it is read that way by servers.
  if (auth_.expects_response()) {
    auth_line(line);
    return;
  }
  Command c;
  const bool bad_verb = parse_command(line.text, c);
  c.length = line.length;
  c.over_long = line.over_long;
  c.bare_lf = !line.crlf;
  c.bare_cr = line.bare_cr;
  c.non_ascii = bad_verb || has_non_ascii(line.text);
  c.invalid = c.over_long || c.bare_lf || c.bare_cr || bad_verb;
  line_anomalies(line, "command");
  const bool utf8_ok =
      !bad_verb && ((c.verb == Verb::mail && c.mail.smtputf8) || (c.verb == Verb::rcpt && client_smtputf8_));
  if (c.non_ascii && !utf8_ok) anomaly(Anomaly::non_ascii_command, bad_verb ? "verb" : "arguments");
  if (after_bdat_) {  // a chunk shorter than its content leaves content where a command should be
    after_bdat_ = false;
    if (bad_verb || c.verb == Verb::other) anomaly(Anomaly::bdat_overrun, "no command after a BDAT chunk");
  }
  c.rendering = (c.verb == Verb::auth || looks_like_auth(c.verb_text)) ? render_auth(line.text, c) : line.text;
  cb_.on_command(c);
  const auto flags = static_cast<std::uint8_t>((c.over_long ? f_over_long : 0) | (c.bare_lf ? f_bare_lf : 0) |
                                               (c.bare_cr ? f_bare_cr : 0) | (c.non_ascii ? f_non_ascii : 0) |
                                               (c.invalid ? f_invalid : 0));
  const auto seq = push(LineKind::command, c.verb, flags, c.length, 0, c.rendering);
  auth_.command(seq);  // a line the open exchange did not expect may still be what answers a later 334
  after_command(c, seq, line.text);
}

void Decoder::auth_line(const Line& line) {
  const bool abort = line.text == "*";
  Command c;
  c.kind = LineKind::auth_response;
  c.verb = Verb::auth;
  c.rendering = abort ? "*" : "[redacted]";
  c.length = line.length;
  c.over_long = line.over_long;
  c.bare_lf = !line.crlf;
  c.bare_cr = line.bare_cr;
  c.invalid = c.over_long || c.bare_lf || c.bare_cr;
  line_anomalies(line, "auth response");
  cb_.on_auth_response(c);
  const auto flags = static_cast<std::uint8_t>((c.over_long ? f_over_long : 0) | (c.bare_lf ? f_bare_lf : 0) |
                                               (c.bare_cr ? f_bare_cr : 0) | (c.invalid ? f_invalid : 0));
  const auto seq = push(LineKind::auth_response, Verb::auth, flags, c.length, 0, c.rendering);
  auth_.response(line.text, seq);
}

std::string_view Decoder::render_auth(std::string_view line, const Command& c) {
  std::size_t n = 0;
  const auto put = [&](std::string_view s) {
    const auto k = std::min(s.size(), render_.size() - n);
    std::memcpy(render_.data() + n, s.data(), k);
    n += k;
  };
  if (c.verb != Verb::auth) {  // AUTH glued to an odd byte: keep that byte, hide the rest
    put(c.verb_text.substr(0, 5));
    if (line.size() > 5) put("[redacted]");
    return {render_.data(), n};
  }
  put(c.verb_text);
  std::string_view mech;
  std::string_view ir;
  split_auth(line.substr(c.verb_text.size()), mech, ir);
  if (!mech.empty()) {
    if (c.args.empty()) {
      put(" [redacted]");  // not a known mechanism name: the word may be a credential
    } else {
      put(" ");
      put(c.args);
      if (c.auth_initial_response) put(" [redacted]");
    }
  }
  return {render_.data(), n};
}

void Decoder::after_command(const Command& c, std::uint32_t seq, std::string_view line) {
  switch (c.verb) {
    case Verb::ehlo:
    case Verb::helo: {
      const std::string_view name = trim_space(c.args);
      helo_.assign(name.substr(0, std::min<std::size_t>(find_space(name), 255)));
      reset_client_transaction();
      break;
    }
    case Verb::mail:
      reset_client_transaction();
      client_smtputf8_ = c.mail.smtputf8;
      declared_size_ = c.mail.has_size ? c.mail.size : 0;
      break;
    case Verb::rset:
      reset_client_transaction();
      break;
    case Verb::data:
      start_gate(Gate::data, seq, c);
      break;
    case Verb::starttls:
      start_gate(Gate::starttls, seq, c);
      break;
    case Verb::bdat: {
      if (!c.bdat_valid) break;  // the server cannot know the chunk size either
      bdat_total_ = bdat_total_ + c.bdat_size < bdat_total_ ? UINT64_MAX : bdat_total_ + c.bdat_size;
      const std::uint64_t limit = declared_size_ != 0 ? declared_size_ : caps_.size;
      if (limit != 0 && bdat_total_ > limit && !bdat_overrun_told_) {
        bdat_overrun_told_ = true;
        anomaly(Anomaly::bdat_overrun, "BDAT chunks exceed SIZE");
      }
      // A server that never offered CHUNKING may not read the chunk at all: let its reply decide.
      if (caps_.chunking) start_chunk(c.bdat_size, c.bdat_last);
      else start_gate(Gate::bdat, seq, c);
      break;
    }
    case Verb::auth: {
      std::string_view mech;
      std::string_view ir;
      split_auth(line.substr(c.verb_text.size()), mech, ir);
      AuthAttempt dropped;
      if (auth_.make_room(dropped)) cb_.on_auth(dropped);
      // An unknown mechanism's word may be the credential itself: it is no initial response to read.
      auth_.start(seq, c.auth_mechanism, c.args, c.args.empty() ? std::string_view{} : ir, caps_.auth);
      break;
    }
    default:
      break;
  }
}

std::string_view Decoder::hold_bytes(std::string_view in) {
  if (!gate_told_) {
    gate_told_ = true;
    if (gate_ == Gate::data) anomaly(Anomaly::pipelining_after_data, "client sent before the reply to DATA");
    if (gate_ == Gate::starttls) anomaly(Anomaly::starttls_injection, "client sent before the reply to STARTTLS");
  }
  const std::size_t limit = std::max<std::size_t>(limits_.max_line, 1024);
  if (hold_.size() + in.size() <= limit) {
    hold_.append(in);
    return {};
  }
  // Too much to hold: take the command as accepted, the common case by far; its reply is checked later.
  assume_gate();
  replay();
  return in;
}

std::string_view Decoder::data_bytes(std::string_view in) {
  const auto step = scanner_.scan(in);
  if (options_.data_lines) content_lines(in.substr(0, step.content), true);
  if (step.lookalike && !smuggling_told_) {
    smuggling_told_ = true;
    anomaly(Anomaly::smuggling, scanner_.last_lookalike());
  }
  if (step.done) finish_data();
  return in.substr(step.consumed);
}

void Decoder::finish_data() {
  ContentInfo ci;
  ci.via = Transfer::data;
  ci.bytes = scanner_.size();
  ci.wire_bytes = scanner_.wire();
  ci.last = true;
  const bool smuggled = scanner_.lookalikes() > 0;
  if (options_.data_lines) content_framer_.reset();  // drops the terminating "." line
  cmode_ = ClientMode::lines;
  scanner_.reset();
  smuggling_told_ = false;
  reset_client_transaction();
  cb_.on_content(ci);
  push(LineKind::end_of_data, Verb::data, smuggled ? f_smuggling : 0, ci.wire_bytes, ci.bytes, ".");
}

std::string_view Decoder::bdat_bytes(std::string_view in) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bdat_remaining_, in.size()));
  if (options_.data_lines) content_lines(in.substr(0, n), false);
  bdat_remaining_ -= n;
  if (bdat_remaining_ == 0) finish_chunk();
  return in.substr(n);
}

void Decoder::start_chunk(std::uint64_t size, bool last) {
  bdat_remaining_ = size;
  bdat_chunk_ = size;
  bdat_last_ = last;
  cmode_ = ClientMode::bdat;
  if (size == 0) finish_chunk();
}

void Decoder::finish_chunk() {
  cmode_ = ClientMode::lines;
  after_bdat_ = true;
  if (options_.data_lines && bdat_last_) {
    if (content_framer_.partial()) cb_.on_data_line(content_framer_.partial_text());
    content_framer_.reset();
  }
  if (bdat_last_) reset_client_transaction();
  ContentInfo ci;
  ci.via = Transfer::bdat;
  ci.bytes = ci.wire_bytes = bdat_chunk_;
  ci.last = bdat_last_;
  cb_.on_content(ci);
}

void Decoder::content_lines(std::string_view bytes, bool unstuff) {
  Line line;
  while (!bytes.empty() && content_framer_.next(bytes, line)) {
    std::string_view text = line.text;
    if (unstuff && !text.empty() && text.front() == '.') text.remove_prefix(1);
    cb_.on_data_line(text);
  }
}

void Decoder::reset_client_transaction() noexcept {
  client_smtputf8_ = false;
  declared_size_ = 0;
  bdat_total_ = 0;
  bdat_overrun_told_ = false;
}

}  // namespace smtp::proto
