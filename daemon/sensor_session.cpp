#include "daemon/sensor_session.hpp"

#include "daemon/address.hpp"
#include "config/config_loader.hpp"
#include "daemon/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace smtp::daemon {
namespace {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view after_at(std::string_view user) {
  const auto at = user.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : user.substr(at + 1);
}

std::string ip_text(const tcp::endpoint& ep) { return unmapped(ep.address()).to_string(); }

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto ip = ip_text(ep);
  if (ip.find(':') == std::string::npos) return fmt::format("{}:{}", ip, ep.port());
  return fmt::format("[{}]:{}", ip, ep.port());
}

}  // namespace

SensorSession::SensorSession(Sensor& sensor, ListenerRuntime& listener, const config::Config& config, std::uint64_t lcid,
                             const tcp::endpoint& client, std::string upstream)
    : sensor_(sensor),
      listener_(listener),
      config_(config),
      metrics_(*listener.metrics),
      transcript_(sensor.transcript()),
      decoder_(*this, proto::Limits{config.limits.max_line, 64},
               proto::Options{config.transcripts.enabled && config.transcripts.message_data,
                              listener.config.tls.mode == config::TlsMode::terminate}),
      lcid_(lcid),
      client_(client),
      client_ip_(mapped_bytes(client.address())),
      upstream_(std::move(upstream)),
      started_(std::chrono::system_clock::now()),
      submission_port_(listener.config.listen.port == 587 || listener.config.listen.port == 465),
      watched_(!in_any(config.allow, client.address())) {
  if (watched_) {
    sensor_.detectors().connection(client_ip_, now_s(), findings_);
    raise(findings_);
  }
  say("************ New connection from: {} to {} (upstream {})", endpoint_text(client_), listener_.config.name,
                    upstream_);
  if (listener_.config.tls.implicit) {
    tls_ = true;
    state_ = "tls";
    opaque_ = listener_.config.tls.mode == config::TlsMode::passthrough;
    if (opaque_) say("~~~~~~~~~~~~ TLS from the first byte; content opaque");
  }
}

void SensorSession::on_data(Dir dir, std::span<const char> bytes) {
  (dir == Dir::client_to_server ? bytes_in_ : bytes_out_) += bytes.size();
  if (!opaque_) decoder_.feed(dir, std::as_bytes(bytes));
}

void SensorSession::on_eof(Dir dir) { decoder_.close(dir); }

void SensorSession::on_refused(std::string_view reply, std::string_view why) {
  if (reply.ends_with("\r\n")) reply.remove_suffix(2);
  bytes_out_ += reply.size() + 2;  // our own reply is bytes at the socket too
  say("~~~~~~~~~~~~ Refused ({}): S <-- {}", why, Escaped{reply});
}

void SensorSession::on_command(const proto::Command& c) {
  ++commands_;
  metrics_.commands[static_cast<std::size_t>(c.verb)]->Increment();
  if (c.invalid) {
    ++bad_commands_;
    metrics_.bad_commands->Increment();
    if (watched_) sensor_.detectors().bad_command(client_ip_, now_s(), findings_);
  }
  switch (c.verb) {
    case proto::Verb::ehlo:
    case proto::Verb::helo: helo_.assign(c.args.substr(0, 255)); break;
    case proto::Verb::quit: quit_ = true; break;
    default: break;
  }
  if (c.verb != proto::Verb::other) state_ = proto::to_string(c.verb);
  say("C --> {}", Escaped{c.rendering});
  raise(findings_);
}

void SensorSession::on_auth_response(const proto::Command& c) { say("C --> {}", Escaped{c.rendering}); }

void SensorSession::on_content(const proto::ContentInfo& c) {
  if (c.via == proto::Transfer::data) say("C --> <message data: {} bytes>", c.bytes);
  else say("C --> <BDAT chunk: {} bytes{}>", c.bytes, c.last ? ", LAST" : "");
}

void SensorSession::on_data_line(std::string_view line) { say("C --> {}", Escaped{line}); }

void SensorSession::on_reply(const proto::Reply& r, const proto::Command* paired) {
  if (const int k = r.klass(); k >= 2 && k <= 5) metrics_.replies[static_cast<std::size_t>(k - 2)]->Increment();
  if (r.bad_command) {
    ++bad_commands_;
    metrics_.bad_commands->Increment();
    if (watched_) sensor_.detectors().bad_command(client_ip_, now_s(), findings_);
  }
  if (r.permanent_failure()) {
    ++permanent_failures_;
    const auto stage = proto::to_string(r.stage);
    for (std::size_t i = 0; i < kFailureStages.size(); ++i)
      if (kFailureStages[i] == stage) metrics_.permanent_failures[i]->Increment();
    metrics_.count(Termination::permanent_failure);
  }
  if (r.greeting && (r.code == 554 || r.code == 421)) {
    blocked_ = true;
    metrics_.count(BlockReason::upstream_refused);
  }
  if (paired && r.klass() == 2) {
    if (paired->verb == proto::Verb::mail && sender_domain_.empty()) sender_domain_ = lower(paired->mail.domain);
    if (paired->verb == proto::Verb::rcpt) {
      ++recipients_;
      if (recipient_domain_.empty()) recipient_domain_ = lower(paired->mail.domain);
    }
  }
  raise(findings_);
  if (!transcript_) return;
  std::string_view text = r.text;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    say("S <-- {}", Escaped{text.substr(0, nl)});
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

void SensorSession::on_message(const proto::MessageInfo& m) {
  if (!m.accepted) return;
  ++messages_;
  metrics_.messages->Increment();
  if (sender_domain_.empty()) sender_domain_ = lower(m.sender_domain);
  if (watched_) {
    sensor_.detectors().message(client_ip_, authenticated_ ? std::string_view(auth_user_) : std::string_view{}, now_s(),
                                findings_);
    raise(findings_);
  }
}

void SensorSession::on_auth(const proto::AuthAttempt& a) {
  const auto mech = std::min<std::size_t>(static_cast<std::size_t>(a.mechanism), kAuthMechanisms - 1);
  metrics_.auth[mech][static_cast<std::size_t>(a.result)]->Increment();
  if (!a.username.empty()) auth_user_.assign(a.username.substr(0, 255));
  auth_result_ = proto::to_string(a.result);
  if (a.result == proto::AuthResult::success) authenticated_ = true;
  if (!watched_) return;
  const auto mech_name = a.mechanism_name.empty() ? std::string_view("(unknown)") : a.mechanism_name;
  if (a.result == proto::AuthResult::unadvertised) {
    sensor_.detectors().auth(client_ip_, a.username, detect::AuthOutcome::unadvertised,
                             fmt::format("AUTH {} answered {}: server does not offer AUTH", mech_name, a.reply_code), now_s(),
                             findings_);
  } else if (a.result == proto::AuthResult::failure) {
    sensor_.detectors().auth(client_ip_, a.username, detect::AuthOutcome::failure, {}, now_s(), findings_);
  }
  raise(findings_);
}

void SensorSession::on_tls_started() {
  tls_ = true;
  state_ = "tls";
  if (listener_.config.tls.mode == config::TlsMode::terminate) say("~~~~~~~~~~~~ STARTTLS accepted; terminating TLS");
  else say("~~~~~~~~~~~~ TLS started; content opaque");
}

SessionObserver::Starttls SensorSession::starttls() const {
  return {decoder_.awaiting_starttls(), decoder_.tls(), decoder_.starttls_tail(), decoder_.tls_server_tail()};
}

void SensorSession::on_starttls_injection(std::size_t bytes) {
  bytes_in_ += bytes;
  on_anomaly(proto::Anomaly::starttls_injection, fmt::format("{} bytes sent before the reply to STARTTLS, discarded", bytes));
}

void SensorSession::on_tls_handshake(TlsSide side, TlsResult result, const SSL* ssl, std::string_view detail) {
  if (result != TlsResult::success) {
    say("~~~~~~~~~~~~ TLS handshake with {} {}: {}", to_string(side), result == TlsResult::timeout ? "timed out" : "failed",
        Escaped{detail});
    return;
  }
  const std::string_view version = SSL_get_version(ssl);
  const std::string_view cipher = SSL_get_cipher_name(ssl);
  if (side == TlsSide::client) {  // what the client negotiated is what the session shows
    tls_version_.assign(version);
    tls_cipher_.assign(cipher);
  }
  say("~~~~~~~~~~~~ TLS started with {}: {} {}; decoding continues", to_string(side), version, cipher);
}

void SensorSession::on_anomaly(proto::Anomaly kind, std::string_view detail) {
  metrics_.anomalies[static_cast<std::size_t>(kind)]->Increment();
  say("!!!!!!!!!!!! anomaly {}: {}", proto::to_string(kind), Escaped{detail});
  if (watched_) {
    if (const auto id = detect::detector_for(kind)) sensor_.detectors().anomaly(*id, detail, findings_);
    raise(findings_);
  }
}

std::uint32_t SensorSession::now_s() const {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

void SensorSession::raise(detect::Findings& findings) {
  for (auto& f : findings) {
    Alert a;
    a.ts = std::chrono::system_clock::now();
    a.type = std::string(f.type);
    a.severity = std::string(f.severity);
    a.ip = ip_text(client_);
    a.listener = listener_.config.name;
    a.lcid = lcid_;
    a.count = f.count;
    a.threshold = f.threshold;
    a.window_s = f.window_s;
    a.action = config::to_string(f.action);
    a.detail = std::move(f.detail);
    a.users = std::move(f.users);
    if (sensor_.raise(a, config_.flag.ttl, f.action == config::Action::block))
      say("!!!!!!!!!!!! alert {} ({}): {}", a.type, a.action, Escaped{a.detail});
  }
  findings.clear();
}

std::string SensorSession::domain() const {
  const std::string auth_domain = lower(after_at(auth_user_));
  switch (listener_.config.domain_from) {
    case config::DomainFrom::sender: return sender_domain_;
    case config::DomainFrom::recipient: return recipient_domain_;
    case config::DomainFrom::auth: return auth_domain;
    case config::DomainFrom::automatic: break;
  }
  // Submission (authenticated, or on 587/465) counts for the sender's side; inbound
  // MX traffic counts for the domain it delivers to.
  if (authenticated_ || submission_port_) return !auth_domain.empty() ? auth_domain : sender_domain_;
  return !recipient_domain_.empty() ? recipient_domain_ : sender_domain_;
}

Termination SensorSession::on_close(Termination reason) {
  decoder_.close(Dir::client_to_server);
  decoder_.close(Dir::server_to_client);
  if (blocked_) reason = Termination::blocked;
  else if ((quit_ || opaque_tls()) && (reason == Termination::client_abort || reason == Termination::server_close))
    reason = Termination::quit;  // a QUIT inside TLS we pass through is invisible: a close is taken as graceful
  if (transcript_) {
    const auto totals = fmt::format("in={} out={} commands={} bad={}", bytes_in_, bytes_out_, commands_, bad_commands_);
    if (reason == Termination::quit) say("~~~~~~~~~~~~ Connection closed (quit). {}", totals);
    else say("~~~~~~~~~~~~ Connection Terminated ({}) without a graceful QUIT. {}", to_string(reason), totals);
  }
  if (const auto d = domain(); !d.empty()) {
    auto& dm = sensor_.metrics().domain(d);
    dm.connections->Increment();
    if (messages_) dm.messages->Increment(messages_);
    dm.bytes->Increment(static_cast<double>(bytes_in_ + bytes_out_));
  }
  store(reason);
  return reason;
}

void SensorSession::store(Termination reason) {
  auto* s = sensor_.store();
  if (!s) return;
  store::SessionRecord r;
  r.lcid = lcid_;
  r.start_ms = unix_ms(started_);
  r.end_ms = unix_ms(std::chrono::system_clock::now());
  r.listener = listener_.config.name;
  r.client_ip = ip_text(client_);
  r.client_port = client_.port();
  r.upstream = upstream_;
  r.helo = helo_;
  r.tls = tls_;
  r.tls_version = tls_version_;
  r.tls_cipher = tls_cipher_;
  r.auth_user = auth_user_;
  r.auth_result = auth_result_;
  r.domain = domain();
  r.messages = messages_;
  r.recipients = recipients_;
  r.commands = commands_;
  r.bad_commands = bad_commands_;
  r.permanent_failures = permanent_failures_;
  r.termination = to_string(reason);
  r.blocked = reason == Termination::blocked;
  r.bytes_in = bytes_in_;
  r.bytes_out = bytes_out_;
  s->submit(std::move(r));
}

void SensorSession::append_json(std::string& out) const {
  out += fmt::format("{{\"lcid\":{},\"client\":", lcid_);
  append_json_string(out, endpoint_text(client_));
  out += ",\"listener\":";
  append_json_string(out, listener_.config.name);
  out += ",\"started\":";
  append_json_string(out, iso8601_utc(started_));
  out += ",\"state\":";
  append_json_string(out, state_);
  out += ",\"helo\":";
  append_json_string(out, helo_);
  out += ",\"auth_user\":";
  append_json_string(out, auth_user_);
  out += ",\"tls_version\":";
  append_json_string(out, tls_version_);
  out += ",\"tls_cipher\":";
  append_json_string(out, tls_cipher_);
  out += fmt::format(",\"tls\":{},\"commands\":{},\"bad_commands\":{},\"messages\":{},\"bytes_in\":{},\"bytes_out\":{}}}",
                     tls_ ? "true" : "false", commands_, bad_commands_, messages_, bytes_in_, bytes_out_);
}

}  // namespace smtp::daemon
