// The store's writer: finished sessions go in through a bounded queue, a thread of its
// own writes them in batched transactions and prunes rows past the retention.
#pragma once

#include "store/packer.hpp"
#include "store/rollups.hpp"
#include "store/schema.hpp"
#include "store/session_record.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace smtp::store {

class SessionStore {
 public:
  // Opens the database now, so a bad path fails at start-up; throws std::runtime_error.
  // `health` hears, from the writer thread, when writing starts to fail (false, with
  // SQLite's reason: a full disk, a read-only file) and when it works again (true, "").
  using Health = std::function<void(bool ok, const std::string& why)>;
  SessionStore(const std::string& path, std::chrono::milliseconds retention, std::size_t queue_limit,
               const MigrationProgress& progress = {}, Health health = {});
  ~SessionStore();  // writes what is queued, then closes
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Never blocks on the database: a full queue drops the record and counts it.
  void submit(SessionRecord record);
  void set_retention(std::chrono::milliseconds retention) { retention_ms_.store(retention.count()); }

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  // Blocks until everything submitted so far is committed and every unit then due is
  // packed (tests and tools; not shutdown, which leaves packing to the next start).
  void flush();

 private:
  void run();
  void write_batch(std::deque<SessionRecord>& batch);
  void lose(std::deque<SessionRecord>& batch);
  void prune();

  sqlite3* db_ = nullptr;
  std::size_t queue_limit_;
  std::atomic<std::int64_t> retention_ms_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<SessionRecord> queue_;
  TrendBatch trend_;  // the writer thread's only, as is packer_
  Packer packer_;
  Health health_;
  bool failing_ = false;  // the writer thread's: the last batch was not committed
  bool stopping_ = false;
  bool busy_ = true;  // until the writer's first pass (which prunes) is done, and while packs are due
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::chrono::steady_clock::time_point next_prune_{};
  std::thread thread_;
};

}  // namespace smtp::store
