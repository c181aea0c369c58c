// systemd's watchdog (WatchdogSec=): WATCHDOG=1 goes out only while every I/O thread
// still runs the tasks posted to it, so a wedged worker stops the pings and systemd
// restarts the service.
#pragma once

#include "daemon/asio.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace smtp::daemon {

class Watchdog {
 public:
  using Notify = std::function<void(std::string_view)>;  // sd_notify(0, text) in the daemon

  // Runs on `control`; every `interval` it checks that each of `workers` ran the task it
  // was sent at the previous tick, sends "WATCHDOG=1" through `notify` if all did, and
  // sends each worker a new task. Nothing happens before start().
  Watchdog(asio::io_context& control, std::vector<asio::io_context*> workers, std::chrono::milliseconds interval,
           Notify notify);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void start();  // sends the first ping at once and posts the first round
  void stop();

  // The ping interval systemd asks for: half of WATCHDOG_USEC (sd_watchdog_enabled),
  // or nothing when the watchdog is off or meant for another process.
  static std::optional<std::chrono::milliseconds> systemd_interval();

  std::uint64_t pings() const { return pings_; }

 private:
  struct State {
    explicit State(std::size_t n) : answered(n) {}
    std::vector<std::atomic<std::uint64_t>> answered;  // the last round each worker ran
  };

  void post_round();
  void tick();

  asio::steady_timer timer_;
  std::vector<asio::io_context*> workers_;
  std::chrono::milliseconds interval_;
  Notify notify_;
  std::shared_ptr<State> state_;  // shared with the posted tasks, which may outlive us
  std::uint64_t round_ = 0;
  std::uint64_t pings_ = 0;
  bool withheld_ = false;  // a warning was logged; logged again only after a recovery
};

}  // namespace smtp::daemon
