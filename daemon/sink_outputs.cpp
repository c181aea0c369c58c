#include "daemon/sink_outputs.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <chrono>
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

// A sink that cannot open its file stops the start, naming the config key that chose
// the path: "cannot open log file" alone read like the daemon's own log.
template <class Make>
auto opened(const char* key, const std::string& path, Make&& make) {
  try {
    make_parent(path);
    return make();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(key) + " " + path + ": cannot open it: " + e.what());
  }
}

// Sinks count their own drops; the metric catches up with them at each scrape.
void mirror(prometheus::Counter& metric, std::uint64_t total) {
  const double seen = metric.Value();
  if (static_cast<double>(total) > seen) metric.Increment(static_cast<double>(total) - seen);
}

}  // namespace

SinkOutputs::SinkOutputs(const config::Config& config, Metrics& metrics) {
  if (config.transcripts.enabled)
    transcript_ = opened("transcripts.path", config.transcripts.path,
                         [&] { return std::make_unique<TranscriptLog>(config.transcripts); });
  alerts_ = opened("alerts.path", config.alerts.path, [&] { return std::make_unique<AlertLog>(config.alerts); });
  if (config.store.enabled) {
    // A schema upgrade may back-fill millions of rows before the daemon listens: say so,
    // with progress and a done line, and keep pushing systemd's start timeout
    // (TimeoutStartSec) out while it runs. The store calls `progress` whenever it
    // migrates, a brand-new (empty) file included: that one is created, not upgraded, so
    // it is not announced.
    std::error_code ec;
    const bool existing = std::filesystem::file_size(config.store.path, ec) > 0 && !ec;
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    auto next_report = t0;
    bool upgrading = false;
    auto progress = [&] {
      sd_notify(0, existing ? "EXTEND_TIMEOUT_USEC=30000000\nSTATUS=Upgrading the session store"
                            : "EXTEND_TIMEOUT_USEC=30000000");
      if (!existing) return;
      const auto now = Clock::now();
      if (!upgrading) {
        spdlog::info("upgrading the session store {} (rebuilding report roll-ups; minutes on a large store)",
                     config.store.path);
        upgrading = true;
        next_report = now + std::chrono::seconds(10);
      } else if (now >= next_report) {
        spdlog::info("upgrading the session store: still working, {} s so far",
                     std::chrono::duration_cast<std::chrono::seconds>(now - t0).count());
        next_report = now + std::chrono::seconds(10);
      }
    };
    // A store that cannot write (a full disk) says so once, and once when it can again.
    auto health = [path = config.store.path](bool ok, const std::string& why) {
      if (ok) spdlog::info("store: writing to {} again", path);
      else
        spdlog::error("store: cannot write to {}: {}; sessions are dropped and counted in "
                      "smtp_sensor_events_dropped_total{{sink=\"store\"}} until it works again",
                      path, why);
    };
    store_ = opened("store.path", config.store.path, [&] {
      return std::make_unique<store::SessionStore>(config.store.path, config.store.retention, config.store.queue_size,
                                                   progress, health);
    });
    if (upgrading)
      spdlog::info("upgrading the session store: done in {:.1f} s",
                   std::chrono::duration<double>(Clock::now() - t0).count());
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
