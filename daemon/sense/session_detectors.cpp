#include "daemon/sense/session_detectors.hpp"

#include "config/config_loader.hpp"

#include <fmt/format.h>

#include <chrono>

namespace smtp::daemon {

std::uint32_t SessionDetectors::now_s() const {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

void SessionDetectors::connection() {
  if (!watched_) return;
  sensor_.detectors().connection(facts_.client_ip, now_s(), findings_);
}

void SessionDetectors::bad_command() {
  if (!watched_) return;
  sensor_.detectors().bad_command(facts_.client_ip, now_s(), findings_);
}

void SessionDetectors::message() {
  if (!watched_) return;
  const std::string_view user = facts_.authenticated ? std::string_view(facts_.auth_user) : std::string_view{};
  sensor_.detectors().message(facts_.client_ip, user, now_s(), findings_);
}

void SessionDetectors::auth(const proto::AuthAttempt& a) {
  if (!watched_) return;
  if (a.result == proto::AuthResult::unadvertised) {
    const auto mech = a.mechanism_name.empty() ? std::string_view("(unknown)") : a.mechanism_name;
    sensor_.detectors().auth(facts_.client_ip, a.username, detect::AuthOutcome::unadvertised,
                             fmt::format("AUTH {} answered {}: server does not offer AUTH", mech, a.reply_code), now_s(),
                             findings_);
  } else if (a.result == proto::AuthResult::failure) {
    sensor_.detectors().auth(facts_.client_ip, a.username, detect::AuthOutcome::failure, {}, now_s(), findings_);
  }
}

void SessionDetectors::anomaly(proto::Anomaly kind, std::string_view detail) {
  if (!watched_) return;
  if (const auto id = detect::detector_for(kind)) sensor_.detectors().anomaly(*id, detail, findings_);
}

void SessionDetectors::raise() {
  for (auto& f : findings_) {
    Alert a;
    a.ts = std::chrono::system_clock::now();
    a.type = std::string(f.type);
    a.severity = std::string(f.severity);
    a.ip = ip_text(facts_.client);
    a.listener = facts_.listener;
    a.lcid = facts_.lcid;
    a.count = f.count;
    a.threshold = f.threshold;
    a.window_s = f.window_s;
    a.action = config::to_string(f.action);
    a.detail = std::move(f.detail);
    a.users = std::move(f.users);
    if (sensor_.raise(a, config_.flag.ttl, f.action == config::Action::block)) transcript_.alert(a.type, a.action, a.detail);
  }
  findings_.clear();
}

}  // namespace smtp::daemon
