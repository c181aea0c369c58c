#include "daemon/watchdog.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <optional>
#include <string>

namespace smtp::daemon {

Watchdog::Watchdog(asio::io_context& control, std::vector<asio::io_context*> workers, std::chrono::milliseconds interval,
                   Notify notify)
    : timer_(control),
      workers_(std::move(workers)),
      interval_(interval),
      notify_(std::move(notify)),
      state_(std::make_shared<State>(workers_.size())) {}

Watchdog::~Watchdog() { stop(); }

std::optional<std::chrono::milliseconds> Watchdog::systemd_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::milliseconds(std::max<std::uint64_t>(usec / 2000, 1));
}

void Watchdog::start() {
  // Every worker was just started and nothing has run on it yet that could wedge it.
  notify_("WATCHDOG=1");
  ++pings_;
  post_round();
  timer_.expires_after(interval_);
  timer_.async_wait([this](const error_code& ec) {
    if (!ec) tick();
  });
}

void Watchdog::stop() { timer_.cancel(); }

void Watchdog::post_round() {
  ++round_;
  for (std::size_t i = 0; i < workers_.size(); ++i)
    asio::post(*workers_[i], [state = state_, i, round = round_] { state->answered[i].store(round, std::memory_order_release); });
}

void Watchdog::tick() {
  std::string late;
  for (std::size_t i = 0; i < workers_.size(); ++i)
    if (state_->answered[i].load(std::memory_order_acquire) != round_) late += (late.empty() ? "io-" : ", io-") + std::to_string(i);  // thread names
  if (late.empty()) {
    notify_("WATCHDOG=1");
    ++pings_;
    if (withheld_) spdlog::info("watchdog: every I/O thread answers again");
    withheld_ = false;
    post_round();  // a worker still busy with the last round gets no second task meanwhile
  } else if (!withheld_) {
    spdlog::error("watchdog: I/O thread(s) {} did not answer within {} ms; WATCHDOG=1 withheld, systemd restarts the "
                  "service if this lasts",
                  late, interval_.count());
    withheld_ = true;
  }
  timer_.expires_after(interval_);
  timer_.async_wait([this](const error_code& ec) {
    if (!ec) tick();
  });
}

}  // namespace smtp::daemon
