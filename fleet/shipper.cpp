#include "fleet/shipper.hpp"

#include "fleet/copy_rows.hpp"
#include "fleet/schema.hpp"
#include "store/ship_source.hpp"

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
// An idle shipper asks the database whether it is still there this often, so
// smtp_sensor_fleet_up falls to 0 when it goes away even while no session ends.
constexpr auto kPingEvery = std::chrono::seconds(5);

}  // namespace

Shipper::Shipper(ShipperOptions options, ShipperLog log)
    : options_(std::move(options)), log_(std::move(log)), backoff_(options_.backoff_min) {
  password_ = options_.connect.password;
  thread_ = std::thread([this] { run(); });
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
    }
  }
}

}  // namespace smtp::fleet
