// One session's transcript lines (SPEC section 5), formatted here and handed to the outputs.
#pragma once

#include "daemon/sense/outputs.hpp"
#include "daemon/sense/session_facts.hpp"
#include "daemon/session_types.hpp"
#include "proto/anomalies.hpp"
#include "proto/events.hpp"
#include "text/escaped.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <string_view>

namespace smtp::daemon {

class SessionTranscript {
 public:
  SessionTranscript(Outputs& outputs, std::uint64_t lcid) : outputs_(outputs.transcribing() ? &outputs : nullptr), lcid_(lcid) {}

  bool on() const { return outputs_ != nullptr; }

  void opened(const SessionFacts& f);
  void refused(std::string_view why, std::string_view reply);
  void dropped(std::string_view why) { say("~~~~~~~~~~~~ Refused ({}): closed without a reply", why); }
  void command(const proto::Command& c) { say_peer("C --> ", c.rendering); }
  void client_line(std::string_view line) { say_peer("C --> ", line); }
  void content(const proto::ContentInfo& c);
  void reply(const proto::Reply& r);
  void tls_started(bool terminating);
  void tls_handshake(TlsSide side, TlsResult result, std::string_view version, std::string_view cipher, std::string_view detail);
  void anomaly(proto::Anomaly kind, std::string_view detail);
  void alert(std::string_view type, std::string_view action, std::string_view detail);
  void closed(Termination reason, const SessionFacts& f);

 private:
  // Formats into one buffer per thread, then hands the text over: no allocation a line.
  template <class... Args>
  void say(fmt::format_string<Args...> format, Args&&... args) {
    if (!outputs_) return;
    auto& buf = scratch();
    buf.clear();
    fmt::format_to(std::back_inserter(buf), format, std::forward<Args>(args)...);
    outputs_->transcript(lcid_, {buf.data(), buf.size()});
  }
  // The lines every message makes (commands, replies) skip the format string: the head,
  // then the peer's text escaped in stretches.
  void say_peer(std::string_view head, std::string_view text) {
    if (!outputs_) return;
    auto& buf = scratch();
    buf.clear();
    buf.append(head.data(), head.data() + head.size());
    text::append_escaped(buf, text);
    outputs_->transcript(lcid_, {buf.data(), buf.size()});
  }
  static fmt::memory_buffer& scratch();

  Outputs* outputs_;  // null when transcripts are off
  std::uint64_t lcid_;
};

}  // namespace smtp::daemon
