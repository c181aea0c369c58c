// The fleet shipper (SPEC 10): a thread of its own that copies every session the local
// store has committed to the fleet database, in rowid order and in batches, and moves the
// store's shipped mark after each remote commit; then the packs of the units the local
// packer changed (store pack_changes), so the fleet report merges packs. The sensor
// never waits for it.
#pragma once

#include "fleet/pg.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace smtp::store {
class ShipSource;
}

namespace smtp::fleet {

// The operations smtp_sensor_fleet_errors_total{op} counts, in label order.
enum class ShipOp { connect, schema, ship, store };
inline constexpr std::array<std::string_view, 4> kShipOpNames{"connect", "schema", "ship", "store"};

struct ShipperOptions {
  std::string store_path;  // the local store (the record)
  std::string sensor;      // this sensor's name in the fleet's rows
  ConnectInfo connect;
  std::size_t batch = 10'000;  // sessions per COPY and commit
  std::size_t pack_batch = 200;  // changed units per commit
  std::chrono::milliseconds idle_poll{200};
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{30'000};
};

// Log lines go through this: level 0 info, 1 warning, 2 error. The text never holds the
// password (libpq does not echo it; the URL is shown as describe_url()).
using ShipperLog = std::function<void(int level, const std::string& text)>;

class Shipper {
 public:
  Shipper(ShipperOptions options, ShipperLog log);
  ~Shipper();  // stops after the batch in flight
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // SIGHUP read password_file again: the next connection uses it.
  void set_password(std::string password);

  bool up() const { return up_.load(std::memory_order_relaxed); }
  std::uint64_t backlog() const { return backlog_.load(std::memory_order_relaxed); }
  std::uint64_t shipped() const { return shipped_.load(std::memory_order_relaxed); }
  std::uint64_t errors(ShipOp op) const { return errors_[static_cast<std::size_t>(op)].load(std::memory_order_relaxed); }

 private:
  void run();
  bool connect();
  // Ships a batch of changed units' packs; true if there were any. Throws PgError for
  // the fleet, std::runtime_error for the local store.
  bool ship_packs(store::ShipSource& source);
  // ship_packs with its failures counted and logged; a failure drops the connection (and
  // the local source on a local failure).
  bool pack_step(std::unique_ptr<store::ShipSource>& source);
  void failed(ShipOp op, const std::string& what);
  void sleep_for(std::chrono::milliseconds d);

  ShipperOptions options_;
  ShipperLog log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool kick_ = false;  // a new password: retry now, not after the backoff
  std::string password_;  // guarded by mutex_
  std::unique_ptr<Connection> db_;
  std::string last_error_;  // a repeated failure is logged once, then again when it changes
  std::chrono::milliseconds backoff_;
  std::atomic<bool> up_{false};
  std::atomic<std::uint64_t> backlog_{0};
  std::atomic<std::uint64_t> shipped_{0};
  std::array<std::atomic<std::uint64_t>, kShipOpNames.size()> errors_{};
  std::thread thread_;
};

}  // namespace smtp::fleet
