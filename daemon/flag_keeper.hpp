// Keeps the flag table in the store across restarts (SPEC 11): read back at start, its changes written each second;
// and answers the control socket's add and remove, which change it.
#pragma once

#include "config/cidr.hpp"
#include "daemon/asio.hpp"
#include "daemon/control/control_protocol.hpp"
#include "store/flag_store.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace smtp::daemon {

class FlagTable;
class Sensor;

// The writes run on the keeper's own thread ("flags"): never on a session's thread, never
// on the control thread, which only arms the timer.
class FlagKeeper {
 public:
  // Reads the active flags of the store at `store_path` back into `flags` ("" when the store
  // is off). A store that cannot be read is logged, and the flags then live in memory only.
  FlagKeeper(asio::io_context& control, FlagTable& flags, const std::string& store_path);
  FlagKeeper(const FlagKeeper&) = delete;
  FlagKeeper& operator=(const FlagKeeper&) = delete;

  // Writes the table's changes every second, from the control thread, until stop().
  void start();
  void stop() { timer_.cancel(); }
  // Writes the table's changes now (a control command changed a flag).
  void persist();
  // The control socket's add and remove (SPEC 11), through `sensor`, which writes the
  // `manual` alert line. Each returns the reply: its lines, the last "ok" or "error: ...".
  // An add is refused when `allow` (the config of the moment: SIGHUP changes it) holds all
  // of the network, and noted when it holds part; the reply names the stored key, its
  // expiry and the flag it replaced.
  std::string add(Sensor& sensor, const control::Request& request, const std::vector<config::Cidr>& allow,
                  std::chrono::milliseconds ttl);
  std::string remove(Sensor& sensor, const std::string& target);
  // At exit: the last changes reach the store (waits at most 10 s).
  void write_last();
  // Waits for the writes in flight; the store may close after this.
  void join() { pool_.join(); }

  // The /flagged pages run on the same thread: off the control thread and the sessions'.
  asio::thread_pool& pool() { return pool_; }

 private:
  FlagTable& flags_;
  asio::steady_timer timer_;
  std::unique_ptr<store::FlagStore> store_;  // null when the store is off or unreadable
  asio::thread_pool pool_{1};                // after store_: joined before the store closes
};

}  // namespace smtp::daemon
