// The sensor's view of one session: a dispatcher from relay and decoder events to the
// pieces that count, transcribe, detect and store.
#pragma once

#include "config/config.hpp"
#include "daemon/relay/session_observer.hpp"
#include "daemon/sense/listener_sense.hpp"
#include "daemon/sense/session_counters.hpp"
#include "daemon/sense/session_detectors.hpp"
#include "daemon/sense/session_facts.hpp"
#include "daemon/sense/session_transcript.hpp"
#include "proto/smtp_decoder.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace smtp::daemon {

// Each event first updates the session's facts, then goes to the pieces in the order
// the transcript shows them. Everything runs on the session's I/O thread.
class SensorSession final : public SessionObserver, public proto::DecoderCallbacks {
 public:
  SensorSession(ListenerSense& listener, const config::Config& config, std::uint64_t lcid);
  ~SensorSession() override { give_back_slot(); }
  SensorSession(const SensorSession&) = delete;
  SensorSession& operator=(const SensorSession&) = delete;

  // SessionObserver
  Admission on_client(const tcp::endpoint& client, std::string_view upstream) override;
  void on_proxy_refused(const tcp::endpoint& peer, std::string_view why) override;
  void on_upstream_connected(std::chrono::duration<double> took) override { counters_.upstream_connected(took); }
  void on_upstream_unavailable(std::string_view reply, std::string_view why, Unavailable cause) override;
  void on_blocked(std::string_view reply, Admission why) override;
  void on_own_reply(std::size_t bytes) override;
  void on_data(Dir dir, std::span<const char> bytes) override;
  void on_eof(Dir dir) override;
  StarttlsCut starttls_cut() const override;
  void on_starttls_injection(std::size_t bytes) override;
  void on_tls_handshake(TlsSide side, TlsResult result, const SSL* ssl, std::string_view detail) override;
  Termination on_close(Termination reason) override;
  bool watching() const override { return watching_; }
  void append_json(std::string& out) const override;

  // proto::DecoderCallbacks
  void on_command(const proto::Command& c) override;
  void on_reply(const proto::Reply& r, const proto::Command* paired) override;
  void on_message(const proto::MessageInfo& m) override;
  void on_auth(const proto::AuthAttempt& a) override;
  void on_tls_started() override;
  void on_anomaly(proto::Anomaly kind, std::string_view detail) override;
  void on_data_line(std::string_view line) override { transcript_.client_line(line); }
  void on_auth_response(const proto::Command& c) override { transcript_.command(c); }
  void on_content(const proto::ContentInfo& c) override { transcript_.content(c); }

 private:
  bool terminating() const { return settings_.tls.mode == config::TlsMode::terminate; }
  void begin(const tcp::endpoint& client, std::string_view upstream);  // who the session's rows name
  bool refuses_session(const proto::Reply& r) const;
  bool take_slot();  // max_connections_per_client
  void give_back_slot();

  ListenerSense& listener_;
  const config::Config& config_;  // the RelaySession that owns us holds it
  const config::Listener& settings_;  // this listener in config_
  std::chrono::steady_clock::time_point opened_;
  SessionFacts facts_;
  SessionCounters counters_;
  SessionTranscript transcript_;
  SessionDetectors detectors_;
  proto::Decoder decoder_;
  bool watching_ = false;
  bool recorded_ = false;  // a transcript and a store row: watched, or refused at the PROXY stage
  bool holds_slot_ = false;  // counted in the listener's ClientSlots under facts_.client_ip
};

}  // namespace smtp::daemon
