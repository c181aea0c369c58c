// Keeps the flag table in the store across restarts (SPEC 11): read back at start, its changes written each second.
#pragma once

#include "daemon/asio.hpp"
#include "store/flag_store.hpp"

#include <memory>
#include <string>

namespace smtp::daemon {

class FlagTable;

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
