#include "store/session_store.hpp"

#include "store/rollups.hpp"
#include "store/schema.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <stdexcept>

namespace smtp::store {
namespace {

constexpr std::size_t kBatch = 2000;  // rows per transaction: one fsync-ish commit each
constexpr auto kPruneEvery = std::chrono::minutes(10);
// The longest a finished session waits to be written, and so about what a SIGKILL can
// lose: the sessions of the last 50 ms, plus the batch being committed (SPEC section 9).
constexpr auto kLinger = std::chrono::milliseconds(50);
// Packing takes turns with the rows: a short slice while sessions wait, a longer one
// when the queue is empty.
constexpr auto kPackSliceBusy = std::chrono::milliseconds(20);
constexpr auto kPackSliceIdle = std::chrono::milliseconds(250);

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

SessionStore::SessionStore(const std::string& path, std::chrono::milliseconds retention, std::size_t queue_limit,
                           const MigrationProgress& progress, Health health)
    : db_(open_store(path, false, progress)),
      queue_limit_(queue_limit),
      retention_ms_(retention.count()),
      packer_(db_),
      health_(std::move(health)) {
  // The packer reads back the newest quarter hour's rows: 8 MB keeps them and the hot
  // ends of the indexes in memory. Merging a week or a month takes more, for that merge
  // only (Packer::pack_parent), so the daemon's steady footprint stays small (issue 20:
  // under 64 MiB of RSS with 1,000 sessions open).
  exec(db_, ("PRAGMA cache_size = " + std::to_string(Packer::kSteadyCacheKiB)).c_str());
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "store");  // top -H, perf: OPERATIONS.md "Threads"
    run();
  });
}

SessionStore::~SessionStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  sqlite3_close(db_);
}

void SessionStore::submit(SessionRecord record) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= queue_limit_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(std::move(record));
    // The writer wakes by itself every kLinger; waking it per session would cost a
    // futex call and a context switch on the relay's hot path.
    if (queue_.size() < kBatch) return;
  }
  wake_.notify_one();
}

void SessionStore::flush() {
  std::unique_lock lock(mutex_);
  wake_.notify_one();
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void SessionStore::run() {
  std::deque<SessionRecord> batch;
  bool waiting = false;  // whether sessions were queued when this pass began
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_prune_) prune();
    const bool more = packer_.run(now + (waiting ? kPackSliceBusy : kPackSliceIdle));
    {
      std::unique_lock lock(mutex_);
      busy_ = more;
      if (!more) idle_.notify_all();
      wake_.wait_for(lock, more ? std::chrono::milliseconds(0) : kLinger,
                     [this] { return stopping_ || queue_.size() >= kBatch; });
      if (queue_.empty() && stopping_) return;
      const std::size_t n = std::min(queue_.size(), kBatch);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      busy_ = true;
      waiting = !queue_.empty();
    }
    if (!batch.empty()) write_batch(batch);
  }
}

void SessionStore::write_batch(std::deque<SessionRecord>& batch) {
  static constexpr const char* kInsert =
      "INSERT INTO sessions (lcid, start_ms, end_ms, listener, client_ip, client_port, upstream, helo, tls, auth_user, "
      "auth_result, domain, messages, recipients, commands, bad_commands, permanent_failures, termination, blocked, "
      "bytes_in, bytes_out, tls_version, tls_cipher, transcript_file, transcript_offset, direction, user_name) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, kInsert, -1, &st, nullptr) != SQLITE_OK) return lose(batch);
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
    lose(batch);
    sqlite3_finalize(st);
    return;
  }
  std::uint64_t inserted = 0;
  for (const auto& r : batch) {
    int i = 0;
    auto text = [&](const std::string& s) { sqlite3_bind_text(st, ++i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC); };
    auto num = [&](std::int64_t v) { sqlite3_bind_int64(st, ++i, v); };
    num(static_cast<std::int64_t>(r.lcid));
    num(r.start_ms);
    num(r.end_ms);
    text(r.listener);
    text(r.client_ip);
    num(r.client_port);
    text(r.upstream);
    text(r.helo);
    num(r.tls);
    text(r.auth_user);
    text(r.auth_result);
    text(r.domain);
    num(r.messages);
    num(r.recipients);
    num(r.commands);
    num(r.bad_commands);
    num(r.permanent_failures);
    text(r.termination);
    num(r.blocked);
    num(static_cast<std::int64_t>(r.bytes_in));
    num(static_cast<std::int64_t>(r.bytes_out));
    text(r.tls_version);
    text(r.tls_cipher);
    num(static_cast<std::int64_t>(r.transcript_file));
    num(static_cast<std::int64_t>(r.transcript_offset));
    num(r.outbound ? 1 : 0);
    text(r.user);
    if (sqlite3_step(st) == SQLITE_DONE) {
      ++inserted;
      trend_.add(r);
      packer_.touch(r.start_ms);
    }
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  // Same transaction as the rows: a report never sees one without the other. A full disk
  // often shows only here, at COMMIT: then the rows and their roll-ups go together.
  trend_.write(db_);
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return lose(batch);
  written_.fetch_add(inserted, std::memory_order_relaxed);
  dropped_.fetch_add(batch.size() - inserted, std::memory_order_relaxed);
  batch.clear();
  if (failing_) {
    failing_ = false;
    if (health_) health_(true, {});
  }
}

// A batch that could not be committed: rolled back, counted as dropped, and the first
// failure of a run told (the sensor relays on; the store is a record, not a gate).
void SessionStore::lose(std::deque<SessionRecord>& batch) {
  const std::string why = sqlite3_errmsg(db_);
  rollback_if_open(db_);
  dropped_.fetch_add(batch.size(), std::memory_order_relaxed);
  batch.clear();
  if (!failing_) {
    failing_ = true;
    if (health_) health_(false, why);
  }
}

void SessionStore::prune() {
  next_prune_ = std::chrono::steady_clock::now() + kPruneEvery;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "DELETE FROM sessions WHERE start_ms < ?", -1, &st, nullptr) != SQLITE_OK) return;
  const std::int64_t cutoff_ms = now_ms() - retention_ms_.load();
  sqlite3_bind_int64(st, 1, cutoff_ms);
  sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_step(st);
  sqlite3_finalize(st);
  prune_rollups(db_, cutoff_ms / 1000);
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  packer_.forget_before(cutoff_ms / 1000);
}

}  // namespace smtp::store
