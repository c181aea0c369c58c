// The sensor's view of one session: decodes it, counts it, writes its transcript and its
// store row. It is the relay's SessionObserver and the decoder's callbacks.
#pragma once

#include "config/config.hpp"
#include "daemon/asio.hpp"
#include "daemon/listener_runtime.hpp"
#include "daemon/sensor.hpp"
#include "daemon/session_observer.hpp"
#include "proto/smtp_decoder.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace smtp::daemon {

class SensorSession final : public SessionObserver, public proto::DecoderCallbacks {
 public:
  SensorSession(Sensor& sensor, ListenerRuntime& listener, const config::Config& config, std::uint64_t lcid,
                const tcp::endpoint& client, std::string upstream);

  // SessionObserver
  void on_data(Dir dir, std::span<const char> bytes) override;
  void on_eof(Dir dir) override;
  void on_refused(std::string_view reply, std::string_view why) override;
  Termination on_close(Termination reason) override;
  Starttls starttls() const override;
  void on_starttls_injection(std::size_t bytes) override;
  void on_tls_handshake(TlsSide side, TlsResult result, const SSL* ssl, std::string_view detail) override;
  void append_json(std::string& out) const override;

  // proto::DecoderCallbacks
  void on_command(const proto::Command& c) override;
  void on_reply(const proto::Reply& r, const proto::Command* paired) override;
  void on_message(const proto::MessageInfo& m) override;
  void on_auth(const proto::AuthAttempt& a) override;
  void on_tls_started() override;
  void on_anomaly(proto::Anomaly kind, std::string_view detail) override;
  void on_data_line(std::string_view line) override;
  void on_auth_response(const proto::Command& c) override;
  void on_content(const proto::ContentInfo& c) override;

 private:
  // One transcript line, if transcripts are on.
  template <class... Args>
  void say(fmt::format_string<Args...> format, Args&&... args) {
    if (transcript_) transcript_->line(lcid_, format, std::forward<Args>(args)...);
  }
  std::string domain() const;
  bool opaque_tls() const { return tls_ && listener_.config.tls.mode == config::TlsMode::passthrough; }
  void store(Termination reason);
  // Runs the findings of a detector event through the flag table and the alert log.
  void raise(detect::Findings& findings);
  std::uint32_t now_s() const;

  Sensor& sensor_;
  ListenerRuntime& listener_;
  const config::Config& config_;  // the RelaySession that owns us holds it
  ListenerMetrics& metrics_;
  TranscriptLog* transcript_;
  proto::Decoder decoder_;
  std::uint64_t lcid_;
  tcp::endpoint client_;
  detect::IpBytes client_ip_;
  std::string upstream_;
  std::chrono::system_clock::time_point started_;
  std::string helo_;
  std::string auth_user_;
  std::string_view auth_result_;
  std::string sender_domain_;
  std::string recipient_domain_;  // the first accepted recipient's
  std::string_view state_ = "greeting";
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::uint32_t commands_ = 0;
  std::uint32_t bad_commands_ = 0;
  std::uint32_t messages_ = 0;
  std::uint32_t recipients_ = 0;
  std::uint32_t permanent_failures_ = 0;
  bool quit_ = false;           // the client said QUIT
  bool tls_ = false;
  bool opaque_ = false;  // implicit TLS passed through: bytes are counted, never decoded
  std::string tls_version_;  // when the sensor terminated TLS with the client
  std::string tls_cipher_;
  bool blocked_ = false;        // the upstream refused the session at the greeting
  bool authenticated_ = false;
  bool submission_port_ = false;
  bool watched_ = true;  // false for allow-listed clients: never flagged, so not tracked
  detect::Findings findings_;  // reused, so that a detector event allocates nothing
};

}  // namespace smtp::daemon
