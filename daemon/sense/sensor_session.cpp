#include "daemon/sense/sensor_session.hpp"

#include "daemon/address.hpp"
#include "daemon/sense/session_record.hpp"
#include "detect/probe_rules.hpp"
#include "text/json.hpp"

#include <fmt/format.h>

namespace smtp::daemon {
namespace {

// What a refused admission counts as: blocked_connections_total{reason}, and the
// transcript's "Refused (REASON)".
BlockReason block_reason(Admission refused) {
  switch (refused) {
    case Admission::deny: return BlockReason::deny;
    case Admission::flagged: return BlockReason::flagged;
    default: return BlockReason::max_connections_per_client;  // client_limit
  }
}

}  // namespace

SensorSession::SensorSession(ListenerSense& listener, const config::Config& config, std::uint64_t lcid)
    : listener_(listener),
      config_(config),
      settings_(config.listeners[listener.index()]),
      opened_(std::chrono::steady_clock::now()),
      counters_(listener.sensor().metrics(), listener.metrics()),
      transcript_(listener.sensor().outputs(), lcid),
      detectors_(listener.sensor(), config, facts_, transcript_),
      decoder_(*this, proto::Limits{config.limits.max_line, 64},
               proto::Options{config.transcripts.enabled && config.transcripts.message_data, terminating()}) {
  facts_.lcid = lcid;
  facts_.listener = settings_.name;
  facts_.outbound = settings_.direction == config::Direction::outbound;
}

// A refusal of the whole session: a 554 or 421 greeting; on an outbound listener also a
// 5xx to EHLO or MAIL that names a block list (the remote server refuses this host).
bool SensorSession::refuses_session(const proto::Reply& r) const {
  if (r.greeting) return r.code == 554 || r.code == 421;
  return facts_.outbound && r.klass() == 5 && (r.stage == proto::Stage::helo || r.stage == proto::Stage::mail) &&
         detect::names_block_list(r.text);
}

void SensorSession::begin(const tcp::endpoint& client, std::string_view upstream) {
  recorded_ = true;
  facts_.client = client;
  facts_.client_ip = detect::mask_key(mapped_bytes(client.address()), config_.addresses.ipv4_prefix,
                                      config_.addresses.ipv6_prefix);
  facts_.client_key = key_text(facts_.client_ip, config_.addresses);
  facts_.upstream = upstream;
  facts_.started = std::chrono::system_clock::now();
}

void SensorSession::on_proxy_refused(const tcp::endpoint& peer, std::string_view why) {
  // Not watched (who is behind the proxy is unknown), but recorded, so that the report
  // counts the same blocked connection as the metric.
  counters_.blocked(BlockReason::proxy_protocol);
  begin(peer, settings_.upstream_text());
  transcript_.opened(facts_);
  transcript_.dropped(why);
}

Admission SensorSession::on_client(const tcp::endpoint& client, std::string_view upstream) {
  const auto& lc = settings_;
  watching_ = true;
  begin(client, upstream);
  facts_.submission_port = lc.listen.port == 587 || lc.listen.port == 465;
  if (lc.tls.implicit) {
    facts_.tls = true;
    facts_.state = "tls";
    facts_.opaque = lc.tls.mode == config::TlsMode::passthrough;
  }
  const auto ip = client.address();
  const bool allowed = in_any(config_.allow, ip);
  detectors_.watch(!allowed);
  detectors_.connection();
  detectors_.raise();
  if (transcript_.on()) {
    const auto at = listener_.sensor().outputs().transcript_position();
    facts_.transcript_file = at.file;
    facts_.transcript_offset = at.offset;
  }
  transcript_.opened(facts_);
  auto verdict = Admission::relay;
  if (in_any(config_.deny, ip)) verdict = Admission::deny;
  else if (!allowed && listener_.sensor().flags().blocked(ip)) verdict = Admission::flagged;
  else if (!allowed && !take_slot()) verdict = Admission::client_limit;
  if (verdict != Admission::relay) counters_.blocked(block_reason(verdict));
  return verdict;
}

// Clients on the allow list are never limited, as Postfix exempts $mynetworks.
bool SensorSession::take_slot() {
  const auto limit = settings_.max_connections_per_client;
  if (limit == 0) return true;
  holds_slot_ = listener_.slots().take(facts_.client_ip, limit);
  return holds_slot_;
}

void SensorSession::give_back_slot() {
  if (!holds_slot_) return;
  holds_slot_ = false;
  listener_.slots().give_back(facts_.client_ip);
}

void SensorSession::on_upstream_unavailable(std::string_view reply, std::string_view why, Unavailable cause) {
  if (cause == Unavailable::descriptors) counters_.out_of_descriptors();
  else counters_.upstream_error();
  transcript_.refused(why, reply);
}

void SensorSession::on_blocked(std::string_view reply, Admission why) {
  transcript_.refused(to_string(block_reason(why)), reply);
}

void SensorSession::on_own_reply(std::size_t bytes) {
  facts_.bytes_out += bytes;
  counters_.bytes(Dir::server_to_client, bytes);
}

void SensorSession::on_data(Dir dir, std::span<const char> bytes) {
  (dir == Dir::client_to_server ? facts_.bytes_in : facts_.bytes_out) += bytes.size();
  counters_.bytes(dir, bytes.size());
  if (!facts_.opaque) decoder_.feed(dir, std::as_bytes(bytes));
}

void SensorSession::on_eof(Dir dir) { decoder_.close(dir); }

void SensorSession::on_command(const proto::Command& c) {
  ++facts_.commands;
  counters_.command(c);
  if (c.invalid) {
    ++facts_.bad_commands;
    detectors_.bad_command();
  }
  switch (c.verb) {
    case proto::Verb::ehlo:
    case proto::Verb::helo: facts_.helo.assign(text::utf8_prefix(c.args, 255)); break;
    case proto::Verb::quit: facts_.quit = true; break;
    default: break;
  }
  if (c.verb != proto::Verb::other) facts_.state = proto::to_string(c.verb);
  // This command is not queued yet: what is pending was sent before it and awaits a reply.
  detectors_.command(c, decoder_.pending(), decoder_.greeted(), decoder_.capabilities().pipelining);
  transcript_.command(c);
  detectors_.raise();
}

void SensorSession::on_reply(const proto::Reply& r, const proto::Command* paired) {
  counters_.reply(r);
  if (r.bad_command) {
    ++facts_.bad_commands;
    detectors_.bad_command();
  }
  if (r.permanent_failure()) ++facts_.permanent_failures;
  if (!facts_.blocked && refuses_session(r)) {
    facts_.blocked = true;
    counters_.blocked(facts_.outbound ? BlockReason::remote_refused : BlockReason::upstream_refused);
  }
  // Outbound, a refused recipient is the remote server's verdict on our user's mail
  // (outbound_rejections), not a local client probing us.
  if (facts_.outbound) {
    if (r.permanent_failure() && r.stage != proto::Stage::mail)
      detectors_.rejection(facts_.user(settings_.user_from, facts_.mail_from));
  } else if (paired && paired->verb == proto::Verb::rcpt && r.klass() == 5) {
    detectors_.rcpt_reply(r);
  }
  if (paired && r.klass() == 2) {
    if (paired->verb == proto::Verb::mail) {
      if (facts_.outbound) {  // only an outbound session's user is its sender: inbound MX traffic copies nothing
        facts_.mail_from = lower(text::utf8_prefix(paired->mail.address, 255));
        if (facts_.sender.empty()) facts_.sender = facts_.mail_from;
      }
      if (facts_.sender_domain.empty()) facts_.sender_domain = lower(paired->mail.domain);
    }
    if (paired->verb == proto::Verb::rcpt) {
      ++facts_.recipients;
      if (facts_.recipient_domain.empty()) facts_.recipient_domain = lower(paired->mail.domain);
    }
  }
  detectors_.raise();
  transcript_.reply(r);
}

void SensorSession::on_message(const proto::MessageInfo& m) {
  if (!m.accepted) return;
  ++facts_.messages;
  counters_.message();
  if (facts_.sender_domain.empty()) facts_.sender_domain = lower(m.sender_domain);
  detectors_.message(facts_.user(settings_.user_from, facts_.mail_from));
  detectors_.raise();
}

void SensorSession::on_auth(const proto::AuthAttempt& a) {
  counters_.auth(a);
  if (!a.username.empty()) facts_.auth_user.assign(text::utf8_prefix(a.username, 255));
  facts_.auth_result = proto::to_string(a.result);
  if (a.result == proto::AuthResult::success) facts_.authenticated = true;
  detectors_.auth(a);
  detectors_.raise();
}

void SensorSession::on_tls_started() {
  facts_.tls = true;
  facts_.state = "tls";
  transcript_.tls_started(terminating());
}

StarttlsCut SensorSession::starttls_cut() const {
  return {decoder_.awaiting_starttls(), decoder_.tls(), decoder_.starttls_tail(), decoder_.tls_server_tail()};
}

void SensorSession::on_starttls_injection(std::size_t bytes) {
  facts_.bytes_in += bytes;
  counters_.bytes(Dir::client_to_server, bytes);
  on_anomaly(proto::Anomaly::starttls_injection, fmt::format("{} bytes sent before the reply to STARTTLS, discarded", bytes));
}

void SensorSession::on_tls_handshake(TlsSide side, TlsResult result, const SSL* ssl, std::string_view detail) {
  counters_.tls_handshake(side, result);
  if (result != TlsResult::success) return transcript_.tls_handshake(side, result, {}, {}, detail);
  const std::string_view version = SSL_get_version(ssl);
  const std::string_view cipher = SSL_get_cipher_name(ssl);
  if (side == TlsSide::client) {  // what the client negotiated is what the session shows
    facts_.tls_version.assign(version);
    facts_.tls_cipher.assign(cipher);
  }
  transcript_.tls_handshake(side, result, version, cipher, detail);
}

void SensorSession::on_anomaly(proto::Anomaly kind, std::string_view detail) {
  counters_.anomaly(kind);
  transcript_.anomaly(kind, detail);
  detectors_.anomaly(kind, detail);
  detectors_.raise();
}

Termination SensorSession::on_close(Termination reason) {
  give_back_slot();  // the connection is closed: the client may open another
  if (recorded_) {
    decoder_.close(Dir::client_to_server);
    decoder_.close(Dir::server_to_client);
    const bool opaque_tls = facts_.tls && settings_.tls.mode == config::TlsMode::passthrough;
    if (facts_.blocked) reason = Termination::blocked;
    else if ((facts_.quit || opaque_tls) && (reason == Termination::client_abort || reason == Termination::server_close))
      reason = Termination::quit;  // a QUIT inside TLS we pass through is invisible: a close is taken as graceful
    transcript_.closed(reason, facts_);
    const auto domain = facts_.domain(settings_.domain_from);
    if (!domain.empty()) counters_.domain(domain, facts_.messages, facts_.bytes_in + facts_.bytes_out);
    if (auto& out = listener_.sensor().outputs(); out.storing())
      out.store(make_record(facts_, domain, facts_.user(settings_.user_from), reason, std::chrono::system_clock::now()));
  }
  counters_.closed(reason, std::chrono::steady_clock::now() - opened_);
  return reason;
}

void SensorSession::append_json(std::string& out) const { append_session_json(out, facts_); }

}  // namespace smtp::daemon
