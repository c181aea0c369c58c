// The real outputs of sense: the transcript file, the alert log and the session store.
#pragma once

#include "config/config.hpp"
#include "daemon/sense/outputs.hpp"
#include "daemon/sinks/alert_log.hpp"
#include "daemon/sinks/metrics.hpp"
#include "daemon/sinks/transcript_log.hpp"
#include "store/session_store.hpp"

#include <functional>
#include <memory>

namespace smtp::daemon {

class SinkOutputs final : public Outputs {
 public:
  // Opens every sink now, so a bad path stops start-up with a clear message.
  SinkOutputs(const config::Config& config, Metrics& metrics);
  ~SinkOutputs() override;

  bool transcribing() const override { return transcript_ != nullptr; }
  void transcript(std::uint64_t lcid, std::string_view text) override { transcript_->line(lcid, text); }
  void alert(const Alert& alert) override { alerts_->write(alert); }
  bool storing() const override { return store_ != nullptr; }
  void store(store::SessionRecord row) override { store_->submit(std::move(row)); }
  TranscriptPosition transcript_position() const override { return transcript_ ? transcript_->position() : TranscriptPosition{}; }

  bool sharing() const override { return static_cast<bool>(share_); }
  void share(detect::DetectorEvent e) override { share_(std::move(e)); }
  // Set once before the first session (daemon/fleet_share): the shared counts' queue.
  void share_with(std::function<void(detect::DetectorEvent)> tap) { share_ = std::move(tap); }

  TranscriptLog* transcript_log() { return transcript_.get(); }  // null when disabled
  void flush();       // blocks until every sink has written what it holds (shutdown, tests)
  void flush_logs();  // asks the alert writer to flush; never blocks (once a second)

 private:
  std::unique_ptr<TranscriptLog> transcript_;
  std::unique_ptr<AlertLog> alerts_;
  std::unique_ptr<store::SessionStore> store_;
  std::function<void(detect::DetectorEvent)> share_;
};

}  // namespace smtp::daemon
