#include "daemon/sense/session_detectors.hpp"

#include "config/config_loader.hpp"
#include "detect/probe_rules.hpp"
#include "text/json.hpp"

#include <fmt/format.h>

#include <chrono>

namespace smtp::daemon {

std::uint32_t SessionDetectors::now_s() const { return Sensor::steady_seconds(); }

void SessionDetectors::share(detect::EventKind kind, std::string_view user) {
  auto& out = sensor_.outputs();
  if (!out.sharing()) return;
  detect::DetectorEvent e;
  e.kind = kind;
  e.ip = facts_.client_ip;
  e.user = std::string(user.substr(0, detect::kMaxSharedUser));
  e.ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  out.share(std::move(e));
}

void SessionDetectors::connection() {
  if (!watched_) return;
  sensor_.detectors().connection(facts_.client_ip, now_s(), findings_);
  share(detect::EventKind::connection);
}

void SessionDetectors::bad_command() {
  if (!watched_) return;
  sensor_.detectors().bad_command(facts_.client_ip, now_s(), findings_);
  share(detect::EventKind::bad_command);
}

void SessionDetectors::message(std::string_view user) {
  if (!watched_) return;
  sensor_.detectors().message(facts_.client_ip, user, now_s(), findings_);
  share(facts_.outbound ? detect::EventKind::outbound_message : detect::EventKind::message, user);
}

void SessionDetectors::rejection(std::string_view sender) {
  if (!watched_) return;
  sensor_.detectors().rejection(facts_.client_ip, sender, now_s(), findings_);
  share(detect::EventKind::rejection, sender);
}

void SessionDetectors::auth(const proto::AuthAttempt& a) {
  if (!watched_) return;
  if (a.result == proto::AuthResult::unadvertised) {
    const auto mech = a.mechanism_name.empty() ? std::string_view("(unknown)") : a.mechanism_name;
    sensor_.detectors().auth(facts_.client_ip, a.username, detect::AuthOutcome::unadvertised,
                             fmt::format("AUTH {} answered {}: server does not offer AUTH", mech, a.reply_code), now_s(),
                             findings_);
    share(detect::EventKind::auth_unadvertised, a.username);
  } else if (a.result == proto::AuthResult::failure) {
    sensor_.detectors().auth(facts_.client_ip, a.username, detect::AuthOutcome::failure, {}, now_s(), findings_);
    share(detect::EventKind::auth_failure, a.username);
  } else if (a.result == proto::AuthResult::success) {
    sensor_.detectors().auth(facts_.client_ip, a.username, detect::AuthOutcome::success, {}, now_s(), findings_);
    share(detect::EventKind::auth_success, a.username);
  }
}

void SessionDetectors::command(const proto::Command& c, std::size_t pending, bool greeted, bool pipelining_offered) {
  if (!watched_) return;
  auto& engine = sensor_.detectors();
  if (c.verb == proto::Verb::vrfy || c.verb == proto::Verb::expn) {
    engine.probe(detect::DetectorId::vrfy_expn, facts_.client_ip, now_s(), findings_);
    share(detect::EventKind::vrfy_expn);
  }
  if (!non_smtp_ && c.verb == proto::Verb::other && detect::looks_non_smtp(c.rendering)) {
    non_smtp_ = true;
    engine.anomaly(detect::DetectorId::non_smtp,
                   fmt::format("client sent '{}', not SMTP", text::utf8_prefix(c.rendering, 80)),
                   findings_);
    return;
  }
  if (!non_smtp_ && !early_pipelining_ && greeted && pending > 0 && !pipelining_offered) {
    early_pipelining_ = true;
    engine.anomaly(detect::DetectorId::early_pipelining,
                   fmt::format("{} sent before the reply to the previous command, without PIPELINING", proto::to_string(c.verb)),
                   findings_);
  }
}

void SessionDetectors::rcpt_reply(const proto::Reply& r) {
  if (!watched_) return;
  switch (detect::classify_rcpt_refusal(r.code, r.enhanced, r.text)) {
    case detect::RcptRefusal::unknown_user:
      sensor_.detectors().probe(detect::DetectorId::recipient_enumeration, facts_.client_ip, now_s(), findings_);
      share(detect::EventKind::recipient_unknown);
      break;
    case detect::RcptRefusal::relay:
      sensor_.detectors().probe(detect::DetectorId::relay_probe, facts_.client_ip, now_s(), findings_);
      share(detect::EventKind::relay_refused);
      break;
    case detect::RcptRefusal::none: break;
  }
}

void SessionDetectors::anomaly(proto::Anomaly kind, std::string_view detail) {
  if (!watched_) return;
  if (const auto id = detect::detector_for(kind)) sensor_.detectors().anomaly(*id, detail, findings_);
}

namespace {

Alert make_alert(detect::Finding& f, const SessionFacts& facts, const std::string& sensor) {
  Alert a;
  a.ts = std::chrono::system_clock::now();
  a.type = std::string(f.type);
  a.severity = std::string(f.severity);
  a.ip = facts.client_key;
  a.listener = facts.listener;
  a.lcid = facts.lcid;
  a.count = f.count;
  a.threshold = f.threshold;
  a.window_s = f.window_s;
  a.action = config::to_string(f.action);
  a.detail = std::move(f.detail);
  a.users = std::move(f.users);
  a.sensor = sensor;  // the id is given when the line is written
  return a;
}

}  // namespace

// The detectors that count clients per user: one alert per account while it stays quiet
// (not one per client). distributed_bruteforce flags (or blocks) every client it counted;
// user_many_ips and outbound_rejections never flag an IP, nor does compromised_account on
// an outbound listener, where the client is the local MTA (SPEC 14: flagged by user).
void SessionDetectors::raise_for_user(detect::Finding& f, bool flag_ips) {
  const auto ttl = config_.flag.ttl;
  const bool block = f.action == config::Action::block;
  if (!f.described) {  // a repeat: the alert is out; only the newest client is flagged
    if (flag_ips) sensor_.flags().flag(facts_.client_key, std::string(f.type), ttl, block);
    return;
  }
  std::vector<std::string> ips;
  ips.reserve(f.ips.size());
  for (const auto& k : f.ips) ips.push_back(key_text(k, config_.addresses));
  Alert a = make_alert(f, facts_, sensor_.name());
  const std::string type = a.type, detail = a.detail;
  const std::string action = flag_ips ? a.action : "flag";
  if (sensor_.raise_for_user(std::move(a), std::move(ips), flag_ips, ttl, block)) transcript_.alert(type, action, detail);
}

void SessionDetectors::raise() {
  for (auto& f : findings_) {
    if (alerted_per_user(f.id, facts_.outbound)) {
      // An outbound compromised_account's alert names the local client too.
      if (f.id == detect::DetectorId::compromised_account && f.described) f.ips.push_back(facts_.client_ip);
      raise_for_user(f, f.id == detect::DetectorId::distributed_bruteforce);
      continue;
    }
    const bool block = f.action == config::Action::block;
    Alert a = make_alert(f, facts_, sensor_.name());
    if (sensor_.raise(a, config_.flag.ttl, block)) transcript_.alert(a.type, a.action, a.detail);
  }
  findings_.clear();
}

}  // namespace smtp::daemon
