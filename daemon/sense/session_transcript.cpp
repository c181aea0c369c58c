#include "daemon/sense/session_transcript.hpp"

namespace smtp::daemon {

fmt::memory_buffer& SessionTranscript::scratch() {
  thread_local fmt::memory_buffer buffer;
  return buffer;
}

void SessionTranscript::opened(const SessionFacts& f) {
  say("************ New connection from: {} to {} (upstream {})", endpoint_text(f.client), f.listener, f.upstream);
  if (f.opaque) say("~~~~~~~~~~~~ TLS from the first byte; content opaque");
}

void SessionTranscript::refused(std::string_view why, std::string_view reply) {
  if (reply.ends_with("\r\n")) reply.remove_suffix(2);
  say("~~~~~~~~~~~~ Refused ({}): S <-- {}", why, text::Escaped{reply});
}

void SessionTranscript::content(const proto::ContentInfo& c) {
  if (c.via == proto::Transfer::data) say("C --> <message data: {} bytes>", c.bytes);
  else say("C --> <BDAT chunk: {} bytes{}>", c.bytes, c.last ? ", LAST" : "");
}

void SessionTranscript::reply(const proto::Reply& r) {
  if (!outputs_) return;
  std::string_view text = r.text;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    say_peer("S <-- ", text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

void SessionTranscript::tls_started(bool terminating) {
  if (terminating) say("~~~~~~~~~~~~ STARTTLS accepted; terminating TLS");
  else say("~~~~~~~~~~~~ TLS started; content opaque");
}

void SessionTranscript::tls_handshake(TlsSide side, TlsResult result, std::string_view version, std::string_view cipher,
                                      std::string_view detail) {
  if (result == TlsResult::success)
    say("~~~~~~~~~~~~ TLS started with {}: {} {}; decoding continues", to_string(side), version, cipher);
  else
    say("~~~~~~~~~~~~ TLS handshake with {} {}: {}", to_string(side), result == TlsResult::timeout ? "timed out" : "failed",
        text::Escaped{detail});
}

void SessionTranscript::anomaly(proto::Anomaly kind, std::string_view detail) {
  say("!!!!!!!!!!!! anomaly {}: {}", proto::to_string(kind), text::Escaped{detail});
}

void SessionTranscript::alert(std::string_view type, std::string_view action, std::string_view detail) {
  say("!!!!!!!!!!!! alert {} ({}): {}", type, action, text::Escaped{detail});
}

void SessionTranscript::closed(Termination reason, const SessionFacts& f) {
  if (!outputs_) return;
  if (reason == Termination::quit)
    say("~~~~~~~~~~~~ Connection closed (quit). in={} out={} commands={} bad={}", f.bytes_in, f.bytes_out, f.commands,
        f.bad_commands);
  else
    say("~~~~~~~~~~~~ Connection Terminated ({}) without a graceful QUIT. in={} out={} commands={} bad={}", to_string(reason),
        f.bytes_in, f.bytes_out, f.commands, f.bad_commands);
}

}  // namespace smtp::daemon
