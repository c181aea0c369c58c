#include "fleet/sharer.hpp"

#include "fleet/schema.hpp"

#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <charconv>

namespace smtp::fleet {
namespace {

// Writers of each table take their own transaction-scoped advisory lock, so that ids and
// seqs become visible in the order they were drawn: a reader that asks for "id > last"
// never misses a row that a slower transaction commits later with a smaller id.
constexpr const char* kEventsLock = "8317995002493119856";
constexpr const char* kFlagsLock = "8317995002493119857";

const std::string kCopyEvents = std::string("COPY shared_events (") + kEventColumns + ") FROM STDIN";

// An automatic flag that meets an active row keeps the row's origin (type, sensor, since,
// manual, reason) and lengthens it; a manual change, a removal, or a row that is no longer
// active replaces the row. $12 is now in milliseconds.
constexpr const char* kUpsertFlag = R"(
INSERT INTO shared_flags AS f (key, type, sensor, since_ms, expires_ms, block, manual, reason, count, removed,
                               changed_by, seq)
VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::boolean, $7::boolean, $8, $9::bigint, $10::boolean, $11,
        nextval('shared_flags_seq'))
ON CONFLICT (key) DO UPDATE SET
  type = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
              THEN f.type ELSE EXCLUDED.type END,
  sensor = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
                THEN f.sensor ELSE EXCLUDED.sensor END,
  since_ms = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
                  THEN f.since_ms ELSE EXCLUDED.since_ms END,
  manual = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
                THEN f.manual ELSE EXCLUDED.manual END,
  reason = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
                THEN f.reason ELSE EXCLUDED.reason END,
  expires_ms = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
                    THEN (CASE WHEN f.manual THEN f.expires_ms ELSE greatest(f.expires_ms, EXCLUDED.expires_ms) END)
                    ELSE EXCLUDED.expires_ms END,
  block = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
               THEN (CASE WHEN f.manual THEN f.block ELSE f.block OR EXCLUDED.block END)
               ELSE EXCLUDED.block END,
  count = CASE WHEN NOT f.removed AND f.expires_ms > $12::bigint AND NOT EXCLUDED.manual AND NOT EXCLUDED.removed
               THEN greatest(f.count, EXCLUDED.count) ELSE EXCLUDED.count END,
  removed = EXCLUDED.removed,
  changed_by = EXCLUDED.changed_by,
  seq = EXCLUDED.seq
RETURNING key, type, sensor, since_ms, expires_ms, block, manual, reason, count, removed, seq)";

// A claim takes the key only when no active flag holds it.
constexpr const char* kClaimFlag = R"(
INSERT INTO shared_flags AS f (key, type, sensor, since_ms, expires_ms, block, manual, reason, count, removed,
                               changed_by, seq)
VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::boolean, false, '', $7::bigint, false, $3, nextval('shared_flags_seq'))
ON CONFLICT (key) DO UPDATE SET type = EXCLUDED.type, sensor = EXCLUDED.sensor, since_ms = EXCLUDED.since_ms,
  expires_ms = EXCLUDED.expires_ms, block = EXCLUDED.block, manual = false, reason = '', count = EXCLUDED.count,
  removed = false, changed_by = EXCLUDED.changed_by, seq = EXCLUDED.seq
WHERE f.removed OR f.expires_ms <= $8::bigint
RETURNING key)";
constexpr std::size_t kMaxClaims = 4096;

constexpr const char* kReadFlags =
    "SELECT key, type, sensor, since_ms, expires_ms, block, manual, reason, count, removed, seq FROM shared_flags "
    "WHERE seq > $1::bigint AND changed_by <> $2 ORDER BY seq LIMIT 5000";
constexpr const char* kReadEvents =
    "SELECT id, ts_ms, kind, encode(ip, 'hex'), usr FROM shared_events WHERE id > $1::bigint AND sensor <> $2 "
    "ORDER BY id LIMIT 5000";
constexpr int kReadLimit = 5000;
constexpr std::size_t kEventsPerCopy = 20'000;
// Tombstones and expired rows stay a day, so a sensor down for less still hears a removal.
constexpr std::int64_t kFlagKeepMs = 24LL * 3600 * 1000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

template <typename T>
T number(std::string_view s) {
  T v{};
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

SharedFlag flag_from(const PGresult* r, int row) {
  SharedFlag f;
  f.key = std::string(cell(r, row, 0));
  f.type = std::string(cell(r, row, 1));
  f.sensor = std::string(cell(r, row, 2));
  f.since_ms = number<std::int64_t>(cell(r, row, 3));
  f.expires_ms = number<std::int64_t>(cell(r, row, 4));
  f.block = cell(r, row, 5) == "t";
  f.manual = cell(r, row, 6) == "t";
  f.reason = std::string(cell(r, row, 7));
  f.count = number<std::uint64_t>(cell(r, row, 8));
  f.removed = cell(r, row, 9) == "t";
  return f;
}

}  // namespace

Sharer::Sharer(SharerOptions options, SharerHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)), backoff_(options_.backoff_min) {
  password_ = options_.connect.password;
  queue_.reserve(std::min<std::size_t>(options_.queue_cap, 4096));
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "fleet-share");  // top -H, perf: OPERATIONS.md "Threads"
    run();
  });
}

Sharer::~Sharer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Sharer::publish(detect::DetectorEvent e) {
  std::lock_guard lock(mutex_);
  if (queue_.size() >= options_.queue_cap) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back(std::move(e));
}

void Sharer::claim(SharedFlag proposed, std::function<void()> won) {
  std::lock_guard lock(mutex_);
  if (claims_.size() < kMaxClaims) claims_.emplace_back(std::move(proposed), std::move(won));
}

void Sharer::resolve_claims() {
  std::vector<std::pair<SharedFlag, std::function<void()>>> claims;
  {
    std::lock_guard lock(mutex_);
    claims.swap(claims_);
  }
  if (claims.empty()) return;
  const std::string now = std::to_string(now_ms());
  std::vector<std::function<void()>> won;
  db_->exec_script("BEGIN");
  try {
    db_->exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::string(kFlagsLock)});
    for (auto& [f, on_won] : claims) {
      auto r = db_->exec(kClaimFlag, {f.key, f.type, options_.sensor, std::to_string(f.since_ms), std::to_string(f.expires_ms),
                                      std::string(f.block ? "t" : "f"), std::to_string(f.count), now});
      if (PQntuples(r.get()) == 1) won.push_back(std::move(on_won));
    }
    db_->exec("SELECT pg_notify('shared_flags', $1)", {options_.sensor});
    db_->exec_script("COMMIT");
  } catch (...) {
    PQclear(PQexec(db_->get(), "ROLLBACK"));
    throw;
  }
  for (auto& w : won) w();
}

void Sharer::set_password(std::string password) {
  {
    std::lock_guard lock(mutex_);
    password_ = std::move(password);
  }
  wake_.notify_all();
}

bool Sharer::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void Sharer::disconnect(const std::string& why) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  up_.store(false, std::memory_order_relaxed);
  db_.reset();
  listen_.reset();
  const std::string text = "fleet: sharing flags and counts with " + describe_url(options_.connect.url) + " failed: " + why;
  if (text != last_error_) hooks_.log(1, text + "; retrying with backoff, flags and detectors go on locally");
  last_error_ = text;
}

bool Sharer::connect() {
  ConnectInfo info = options_.connect;
  info.application_name = "smtp-sensor share";
  {
    std::lock_guard lock(mutex_);
    info.password = password_;
  }
  try {
    auto db = std::make_unique<Connection>(info);
    ensure_schema(*db);
    auto listen = std::make_unique<Connection>(info);
    if (options_.share_flags) listen->exec_script("LISTEN shared_flags");
    if (options_.share_counts) listen->exec_script("LISTEN shared_events");
    if (last_event_id_ < 0) {
      // Windows start empty at start-up, as without a fleet: the past is not replayed.
      auto r = db->exec("SELECT coalesce(max(id), 0) FROM shared_events");
      last_event_id_ = number<std::int64_t>(cell(r.get(), 0, 0));
    }
    db_ = std::move(db);
    listen_ = std::move(listen);
  } catch (const std::exception& e) {
    disconnect(e.what());
    return false;
  }
  up_.store(true, std::memory_order_relaxed);
  backoff_ = options_.backoff_min;
  last_error_.clear();
  // After a (re)connect the NOTIFYs sent meanwhile are lost: read the tables once.
  need_flags_ = need_events_ = true;
  hooks_.log(0, "fleet: sharing " + std::string(options_.share_flags ? "flags" : "") +
                    (options_.share_flags && options_.share_counts ? " and " : "") +
                    (options_.share_counts ? "detector counts" : "") + " through " + describe_url(info.url) +
                    " as sensor '" + options_.sensor + "'");
  return true;
}

void Sharer::wait_for_notify(std::chrono::milliseconds timeout) {
  pollfd p{PQsocket(listen_->get()), POLLIN, 0};
  if (p.fd < 0) throw PgError("the LISTEN connection has no socket", "");
  if (::poll(&p, 1, static_cast<int>(timeout.count())) < 0) return;  // EINTR: try again next turn
  if (PQconsumeInput(listen_->get()) != 1) throw PgError(PQerrorMessage(listen_->get()), "");
  while (PGnotify* n = PQnotifies(listen_->get())) {
    // The payload names the sensor that wrote: its own writes need no read.
    if (options_.sensor != n->extra) {
      if (std::string_view(n->relname) == "shared_flags") need_flags_ = true;
      else need_events_ = true;
    }
    PQfreemem(n);
  }
}

void Sharer::publish_flags() {
  if (!options_.share_flags) return;
  for (auto& f : hooks_.take_flags()) {
    if (pending_flags_.size() >= options_.pending_flags_cap && !pending_flags_.count(f.key)) continue;
    pending_flags_[f.key] = std::move(f);
  }
  if (pending_flags_.empty() || !db_) return;
  const std::string now = std::to_string(now_ms());
  std::vector<SharedFlag> merged;
  db_->exec_script("BEGIN");
  try {
    db_->exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::string(kFlagsLock)});
    for (const auto& [key, f] : pending_flags_) {
      auto r = db_->exec(kUpsertFlag, {f.key, f.type, f.sensor, std::to_string(f.since_ms), std::to_string(f.expires_ms),
                                       std::string(f.block ? "t" : "f"), std::string(f.manual ? "t" : "f"), f.reason,
                                       std::to_string(f.count), std::string(f.removed ? "t" : "f"), options_.sensor, now});
      merged.push_back(flag_from(r.get(), 0));
    }
    db_->exec("SELECT pg_notify('shared_flags', $1)", {options_.sensor});
    db_->exec_script("COMMIT");
  } catch (...) {
    PQclear(PQexec(db_->get(), "ROLLBACK"));
    throw;
  }
  pending_flags_.clear();
  // What the fleet made of them (an earlier sensor's origin kept, a longer expiry): as a
  // remote flag, so that applying it is not published again.
  for (const auto& f : merged) hooks_.apply_flag(f);
}

void Sharer::publish_events() {
  if (!options_.share_counts || !db_) return;
  std::vector<detect::DetectorEvent> batch;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return;
    batch.swap(queue_);
    queue_.reserve(std::min<std::size_t>(options_.queue_cap, 4096));
  }
  std::string payload;
  for (std::size_t at = 0; at < batch.size(); at += kEventsPerCopy) {
    const std::size_t end = std::min(batch.size(), at + kEventsPerCopy);
    payload.clear();
    for (std::size_t i = at; i < end; ++i) append_event_row(payload, options_.sensor, batch[i]);
    db_->exec_script("BEGIN");
    try {
      db_->exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::string(kEventsLock)});
      db_->exec(kCopyEvents.c_str());
      db_->put_copy_data(payload);
      db_->end_copy();
      db_->exec("SELECT pg_notify('shared_events', $1)", {options_.sensor});
      db_->exec_script("COMMIT");
    } catch (...) {
      PQclear(PQexec(db_->get(), "ROLLBACK"));
      // The batch in flight is lost, not retried: counted as dropped.
      dropped_.fetch_add(batch.size() - at, std::memory_order_relaxed);
      throw;
    }
    published_.fetch_add(end - at, std::memory_order_relaxed);
  }
}

void Sharer::read_flags() {
  if (!options_.share_flags) return;
  for (;;) {
    auto r = db_->exec(kReadFlags, {std::to_string(last_flag_seq_), options_.sensor});
    const int rows = PQntuples(r.get());
    for (int i = 0; i < rows; ++i) {
      hooks_.apply_flag(flag_from(r.get(), i));
      last_flag_seq_ = std::max(last_flag_seq_, number<std::int64_t>(cell(r.get(), i, 10)));
    }
    flags_received_.fetch_add(static_cast<std::uint64_t>(rows), std::memory_order_relaxed);
    if (rows < kReadLimit) return;
  }
}

void Sharer::read_events() {
  if (!options_.share_counts) return;
  const std::int64_t oldest = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(options_.horizon).count();
  std::vector<detect::DetectorEvent> events;
  for (;;) {
    auto r = db_->exec(kReadEvents, {std::to_string(last_event_id_), options_.sensor});
    const int rows = PQntuples(r.get());
    events.clear();
    for (int i = 0; i < rows; ++i) {
      last_event_id_ = std::max(last_event_id_, number<std::int64_t>(cell(r.get(), i, 0)));
      auto e = decode_event(cell(r.get(), i, 1), cell(r.get(), i, 2), cell(r.get(), i, 3), cell(r.get(), i, 4));
      // A backlog older than every window counts nowhere (SPEC 9).
      if (e && e->ts_ms >= oldest) events.push_back(std::move(*e));
    }
    received_.fetch_add(events.size(), std::memory_order_relaxed);
    if (!events.empty()) hooks_.events(events);
    if (rows < kReadLimit) return;
  }
}

void Sharer::prune() {
  const std::int64_t now = now_ms();
  if (options_.share_counts)
    db_->exec("DELETE FROM shared_events WHERE ts_ms < $1::bigint",
              {std::to_string(now - std::chrono::duration_cast<std::chrono::milliseconds>(options_.horizon).count())});
  if (options_.share_flags)
    db_->exec("DELETE FROM shared_flags WHERE expires_ms < $1::bigint", {std::to_string(now - kFlagKeepMs)});
}

void Sharer::run() {
  while (!stopping()) {
    if (!db_ && !connect()) {
      // Flag changes are still taken, so that they wait here (bounded) for the database.
      try {
        publish_flags();
      } catch (const std::exception&) {
      }
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, backoff_, [this] { return stopping_; });
      backoff_ = std::min(backoff_ * 2, options_.backoff_max);
      continue;
    }
    try {
      wait_for_notify(options_.tick);
      publish_flags();
      publish_events();
      const auto now = std::chrono::steady_clock::now();
      if (now - last_read_ >= options_.fallback_poll) need_flags_ = need_events_ = true;
      if (need_flags_ || need_events_) last_read_ = now;
      if (need_flags_) need_flags_ = false, read_flags();
      if (need_events_) need_events_ = false, read_events();
      resolve_claims();
      if (now - last_prune_ >= options_.prune_every) {
        last_prune_ = now;
        prune();
      }
    } catch (const std::exception& e) {
      disconnect(e.what());
    }
  }
}

}  // namespace smtp::fleet
