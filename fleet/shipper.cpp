#include "fleet/shipper.hpp"

#include "fleet/copy_rows.hpp"
#include "fleet/schema.hpp"
#include "store/ship_source.hpp"

#include <pthread.h>

#include <algorithm>

namespace smtp::fleet {
namespace {

// A batch is copied straight into sessions. Only when that meets a row a previous run
// already shipped (a crash between the remote commit and the local mark: COPY cannot skip
// it) does the batch go through a temporary table and INSERT ... ON CONFLICT DO NOTHING,
// which writes every row twice.
constexpr const char* kCreateStage =
    "CREATE TEMP TABLE IF NOT EXISTS fleet_stage (LIKE sessions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";
const std::string kCopyDirect = std::string("COPY sessions (") + kSessionColumns + ") FROM STDIN";
const std::string kCopy = std::string("COPY fleet_stage (") + kSessionColumns + ") FROM STDIN";
constexpr const char* kUniqueViolation = "23505";
const std::string kInsert = std::string("INSERT INTO sessions (") + kSessionColumns + ") SELECT " + kSessionColumns +
                            " FROM fleet_stage ON CONFLICT (sensor, lcid) DO NOTHING";
constexpr auto kBacklogEvery = std::chrono::seconds(1);
// A unit's packs are replaced whole: its rows go, then its rows now (if it is packed).
constexpr const char* kDeletePacks =
    "DELETE FROM packs WHERE sensor = $1 AND (level, start) IN (SELECT * FROM unnest($2::smallint[], $3::bigint[]))";
constexpr const char* kDeletePacked =
    "DELETE FROM packed WHERE sensor = $1 AND (level, start) IN (SELECT * FROM unnest($2::smallint[], $3::bigint[]))";
constexpr const char* kInsertPacked =
    "INSERT INTO packed (sensor, level, start) SELECT $1, * FROM unnest($2::smallint[], $3::bigint[])";
constexpr const char* kCopyPacks = "COPY packs (sensor, level, start, kind, direction, listener, data) FROM STDIN";
// A batch of units stops growing past this many bytes of COPY text (a month of a busy
// sensor's packs is tens of MB), so the shipper's memory stays bounded.
constexpr std::size_t kMaxPackPayload = 32u << 20;

// A PostgreSQL array literal of the numbers.
template <class T>
std::string array_literal(const std::vector<T>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(v[i]);
  }
  return out + "}";
}

// Appends data as a COPY text field of type bytea, in hex ("\\x" escaped for COPY).
void append_copy_bytea(std::string& out, std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\\\x";
  for (const unsigned char c : data) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}
// An idle shipper asks the database whether it is still there this often, so
// smtp_sensor_fleet_up falls to 0 when it goes away even while no session ends.
constexpr auto kPingEvery = std::chrono::seconds(5);

}  // namespace

Shipper::Shipper(ShipperOptions options, ShipperLog log)
    : options_(std::move(options)), log_(std::move(log)), backoff_(options_.backoff_min) {
  password_ = options_.connect.password;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "fleet-ship");  // top -H, perf: OPERATIONS.md "Threads"
    run();
  });
}

Shipper::~Shipper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Shipper::set_password(std::string password) {
  {
    std::lock_guard lock(mutex_);
    password_ = std::move(password);
    kick_ = true;
  }
  wake_.notify_all();
}

void Shipper::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, d, [this] { return stopping_ || kick_; });
  if (kick_) {
    kick_ = false;
    backoff_ = options_.backoff_min;
  }
}

void Shipper::failed(ShipOp op, const std::string& what) {
  errors_[static_cast<std::size_t>(op)].fetch_add(1, std::memory_order_relaxed);
  if (op != ShipOp::store) up_.store(false, std::memory_order_relaxed);
  const std::string text = "fleet: " + std::string(kShipOpNames[static_cast<std::size_t>(op)]) + " " +
                           describe_url(options_.connect.url) + " failed: " + what;
  // One line per distinct reason, not one per retry; the metrics count every failure.
  if (text != last_error_) log_(op == ShipOp::store ? 2 : 1, text + "; retrying with backoff, sessions stay in the local store");
  last_error_ = text;
}

bool Shipper::connect() {
  ConnectInfo info = options_.connect;
  {
    std::lock_guard lock(mutex_);
    info.password = password_;
  }
  std::unique_ptr<Connection> c;
  try {
    c = std::make_unique<Connection>(info);
  } catch (const std::exception& e) {
    failed(ShipOp::connect, e.what());
    return false;
  }
  try {
    const auto out = ensure_schema(*c);
    if (out.before != out.after)
      log_(0, "fleet: schema of " + describe_url(info.url) + " upgraded from version " + std::to_string(out.before) + " to " +
                  std::to_string(out.after));
    c->exec_script(kCreateStage);
  } catch (const std::exception& e) {
    failed(ShipOp::schema, e.what());
    return false;
  }
  db_ = std::move(c);
  up_.store(true, std::memory_order_relaxed);
  backoff_ = options_.backoff_min;
  last_error_.clear();
  log_(0, "fleet: connected to " + describe_url(info.url) + ", shipping sessions as sensor '" + options_.sensor + "'");
  return true;
}

bool Shipper::ship_packs(store::ShipSource& source) {
  const auto changes = source.pack_changes(options_.pack_batch);
  if (changes.empty()) return false;
  // Read from the local store first, so no remote transaction is left open by a local
  // failure.
  std::vector<store::PackChange> batch;
  std::vector<int> levels, packed_levels;
  std::vector<std::int64_t> starts, packed_starts;
  std::vector<store::ShipPack> packs;
  std::string payload;
  for (const auto& c : changes) {
    if (!batch.empty() && payload.size() > kMaxPackPayload) break;
    batch.push_back(c);
    levels.push_back(c.level);
    starts.push_back(c.start);
    if (!source.read_unit(c.level, c.start, packs)) continue;
    packed_levels.push_back(c.level);
    packed_starts.push_back(c.start);
    const std::string unit = std::to_string(c.level) + '\t' + std::to_string(c.start) + '\t';
    for (const auto& p : packs) {
      append_copy_text(payload, options_.sensor);
      payload += '\t';
      payload += unit;
      payload += std::to_string(p.kind) + '\t' + std::to_string(p.direction) + '\t';
      append_copy_text(payload, p.listener);
      payload += '\t';
      append_copy_bytea(payload, p.data);
      payload += '\n';
    }
  }
  db_->exec_script("BEGIN");
  db_->exec(kDeletePacks, {options_.sensor, array_literal(levels), array_literal(starts)});
  db_->exec(kDeletePacked, {options_.sensor, array_literal(levels), array_literal(starts)});
  if (!packed_levels.empty())
    db_->exec(kInsertPacked, {options_.sensor, array_literal(packed_levels), array_literal(packed_starts)});
  if (!payload.empty()) {
    db_->exec(kCopyPacks);
    db_->put_copy_data(payload);
    db_->end_copy();
  }
  db_->exec_script("COMMIT");
  // After the remote commit: a crash in between ships the units again, which replaces
  // them with the same rows.
  source.clear_pack_changes(batch);
  return true;
}

bool Shipper::pack_step(std::unique_ptr<store::ShipSource>& source) {
  try {
    return ship_packs(*source);
  } catch (const PgError& e) {
    db_.reset();
    failed(ShipOp::ship, e.what());
  } catch (const std::exception& e) {
    source.reset();
    db_.reset();  // a remote transaction may be open
    failed(ShipOp::store, e.what());
  }
  return false;
}

void Shipper::run() {
  std::unique_ptr<store::ShipSource> source;
  auto next_backlog = std::chrono::steady_clock::time_point{};
  auto next_ping = std::chrono::steady_clock::now() + kPingEvery;
  std::string payload;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    try {
      if (!source) source = std::make_unique<store::ShipSource>(options_.store_path);
      if (std::chrono::steady_clock::now() >= next_backlog) {
        backlog_.store(source->backlog(source->mark()), std::memory_order_relaxed);
        next_backlog = std::chrono::steady_clock::now() + kBacklogEvery;
      }
    } catch (const std::exception& e) {
      source.reset();
      failed(ShipOp::store, e.what());
      sleep_for(backoff_);
      backoff_ = std::min(backoff_ * 2, options_.backoff_max);
      continue;
    }
    if (!db_ && !connect()) {
      sleep_for(backoff_);
      backoff_ = std::min(backoff_ * 2, options_.backoff_max);
      continue;
    }
    std::vector<store::ShipRow> rows;
    std::int64_t mark = 0;
    try {
      mark = source->mark();
      rows = source->read_after(mark, options_.batch);
    } catch (const std::exception& e) {
      source.reset();
      failed(ShipOp::store, e.what());
      sleep_for(backoff_);
      continue;
    }
    if (rows.empty()) {
      backlog_.store(0, std::memory_order_relaxed);
      // Packs ship once the sessions before them have: a report then never reads a
      // sensor's pack while its sessions of the open units are still on the way.
      if (pack_step(source)) continue;
      if (!source || !db_) {
        sleep_for(backoff_);
        continue;
      }
      if (std::chrono::steady_clock::now() >= next_ping) {
        next_ping = std::chrono::steady_clock::now() + kPingEvery;
        try {
          db_->exec_script("SELECT 1");
        } catch (const std::exception& e) {
          db_.reset();
          failed(ShipOp::connect, e.what());
          continue;
        }
      }
      sleep_for(options_.idle_poll);
      continue;
    }
    payload.clear();
    for (const auto& r : rows) append_copy_row(payload, options_.sensor, r.record);
    try {
      bool shipped = false;
      try {
        db_->exec_script("BEGIN");
        db_->exec(kCopyDirect.c_str());
        db_->put_copy_data(payload);
        db_->end_copy();
        db_->exec_script("COMMIT");
        shipped = true;
      } catch (const PgError& e) {
        if (e.sqlstate != kUniqueViolation) throw;
        db_->exec_script("ROLLBACK");
      }
      if (!shipped) {
        db_->exec_script("BEGIN");
        db_->exec(kCopy.c_str());
        db_->put_copy_data(payload);
        db_->end_copy();
        db_->exec(kInsert.c_str());
        db_->exec_script("COMMIT");
      }
    } catch (const std::exception& e) {
      db_.reset();
      failed(ShipOp::ship, e.what());
      sleep_for(backoff_);
      continue;
    }
    shipped_.fetch_add(rows.size(), std::memory_order_relaxed);
    try {
      // After the remote commit: a crash in between ships the batch again, and
      // ON CONFLICT (sensor, lcid) DO NOTHING keeps it once.
      source->set_mark(rows.back().rowid);
      const auto left = backlog_.load(std::memory_order_relaxed);
      backlog_.store(left > rows.size() ? left - rows.size() : 0, std::memory_order_relaxed);
    } catch (const std::exception& e) {
      failed(ShipOp::store, e.what());
      source.reset();
      continue;
    }
    // Caught up with the sessions: a busy sensor rarely reads an empty batch, and its
    // packs must not wait for one.
    if (rows.size() < options_.batch) pack_step(source);
  }
}

}  // namespace smtp::fleet
