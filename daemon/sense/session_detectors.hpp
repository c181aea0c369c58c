// One session's events fed to the detectors, and what they find raised as alerts and flags.
#pragma once

#include "config/config.hpp"
#include "daemon/sense/sensor.hpp"
#include "daemon/sense/session_facts.hpp"
#include "daemon/sense/session_transcript.hpp"
#include "detect/engine.hpp"
#include "proto/anomalies.hpp"
#include "proto/events.hpp"

#include <cstdint>
#include <string_view>

namespace smtp::daemon {

class SessionDetectors {
 public:
  // Allow-listed clients are never flagged, so they are not tracked either.
  SessionDetectors(Sensor& sensor, const config::Config& config, const SessionFacts& facts, SessionTranscript& transcript)
      : sensor_(sensor), config_(config), facts_(facts), transcript_(transcript) {}

  void watch(bool on) { watched_ = on; }
  // Each event collects what the detectors find; raise() turns it into alerts when the
  // dispatcher wants the alert's transcript line to appear.
  void connection();
  void bad_command();
  // A delivered message of `user` (the session's user: the AUTH user, or outbound the
  // sender; "" for none): compromised_account counts it.
  void message(std::string_view user);
  // Outbound: a remote server refused mail of `sender` after MAIL (outbound_rejections).
  void rejection(std::string_view sender);
  void auth(const proto::AuthAttempt& a);
  void anomaly(proto::Anomaly kind, std::string_view detail);
  // A client command: vrfy_expn, non_smtp, and early_pipelining when `pending` earlier
  // commands still await their replies and the server did not offer PIPELINING (or has
  // not answered EHLO yet). non_smtp and early_pipelining fire once per session, and
  // early_pipelining never after non_smtp.
  void command(const proto::Command& c, std::size_t pending, bool greeted, bool pipelining_offered);
  // A reply to RCPT: recipient_enumeration or relay_probe when it refuses.
  void rcpt_reply(const proto::Reply& r);
  // Runs the findings through the flag table and the alert log; a fresh alert gets a
  // transcript line.
  void raise();

 private:
  std::uint32_t now_s() const;
  // Hands what the detectors counted to the fleet (SPEC 10, shared counts).
  void share(detect::EventKind kind, std::string_view user = {});

  Sensor& sensor_;
  const config::Config& config_;
  const SessionFacts& facts_;
  SessionTranscript& transcript_;
  void raise_for_user(detect::Finding& f, bool flag_ips);

  bool watched_ = false;
  bool non_smtp_ = false;
  bool early_pipelining_ = false;
  detect::Findings findings_;  // reused, so that a detector event allocates nothing
};

}  // namespace smtp::daemon
