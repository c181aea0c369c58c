#include "daemon/sink_outputs.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <filesystem>

namespace smtp::daemon {
namespace {

// The log directories are the daemon's own (systemd's LogsDirectory in production);
// creating them here saves a first-run failure when run by hand.
void make_parent(const std::string& path) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
}

// Sinks count their own drops; the metric catches up with them at each scrape.
void mirror(prometheus::Counter& metric, std::uint64_t total) {
  const double seen = metric.Value();
  if (static_cast<double>(total) > seen) metric.Increment(static_cast<double>(total) - seen);
}

}  // namespace

SinkOutputs::SinkOutputs(const config::Config& config, Metrics& metrics) {
  try {
    if (config.transcripts.enabled) {
      make_parent(config.transcripts.path);
      transcript_ = std::make_unique<TranscriptLog>(config.transcripts);
    }
    make_parent(config.alerts.path);
    alerts_ = std::make_unique<AlertLog>(config.alerts);
  } catch (const spdlog::spdlog_ex& e) {
    throw std::runtime_error(std::string("cannot open log file: ") + e.what());
  }
  if (config.store.enabled) {
    // A schema upgrade may back-fill millions of rows before the daemon listens: say so,
    // and keep pushing systemd's start timeout (TimeoutStartSec) out while it runs.
    bool told = false;
    auto progress = [&] {
      if (!told) spdlog::info("upgrading the session store {} (rebuilding report roll-ups; minutes on a large store)", config.store.path);
      told = true;
      sd_notify(0, "EXTEND_TIMEOUT_USEC=30000000\nSTATUS=Upgrading the session store");
    };
    store_ = std::make_unique<store::SessionStore>(config.store.path, config.store.retention, config.store.queue_size, progress);
  }
  metrics.on_scrape([this, &metrics] {
    if (transcript_) mirror(metrics.events_dropped("transcript"), transcript_->dropped());
    mirror(metrics.events_dropped("alerts"), alerts_->dropped());
    if (store_) mirror(metrics.events_dropped("store"), store_->dropped());
  });
}

SinkOutputs::~SinkOutputs() { flush(); }

void SinkOutputs::flush_logs() { alerts_->flush(); }

void SinkOutputs::flush() {
  if (transcript_) transcript_->flush();
  alerts_->flush();
  if (store_) store_->flush();
}

}  // namespace smtp::daemon
