#include "store/ship_source.hpp"

#include "store/history.hpp"
#include "store/pack.hpp"

#include "store/schema.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace smtp::store {
namespace {

[[noreturn]] void fail(sqlite3* db, const char* what) {
  throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

Stmt must_prepare(sqlite3* db, const char* sql) {
  auto st = prepare(db, sql);
  if (!st) fail(db, "store");
  return st;
}

std::int64_t single_int(sqlite3* db, const char* sql, std::int64_t arg = 0, bool bind = false) {
  auto st = must_prepare(db, sql);
  if (bind) sqlite3_bind_int64(st.get(), 1, arg);
  const int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(st.get(), 0);
  if (rc != SQLITE_DONE) fail(db, "store");
  return 0;
}

}  // namespace

ShipSource::ShipSource(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open store " + path + ": " + msg);
  }
  // The session writer commits every 50 ms; the mark's one-row update waits for it.
  sqlite3_busy_timeout(db_, 5000);
  if (schema_version(db_) < kSchemaVersion) {
    sqlite3_close(db_);
    throw std::runtime_error("store " + path + " is not at schema version " + std::to_string(kSchemaVersion));
  }
}

ShipSource::~ShipSource() { sqlite3_close(db_); }

std::int64_t ShipSource::mark() {
  const std::int64_t m = single_int(db_, "SELECT last_rowid FROM fleet_shipped WHERE id = 0");
  if (m > 0 && single_int(db_, "SELECT coalesce(max(rowid), 0) FROM sessions") < m) {
    set_mark(0);
    return 0;
  }
  return m;
}

std::uint64_t ShipSource::backlog(std::int64_t rowid) {
  return static_cast<std::uint64_t>(single_int(db_, "SELECT count(*) FROM sessions WHERE rowid > ?", rowid, true));
}

void ShipSource::set_mark(std::int64_t rowid) {
  auto st = must_prepare(db_, "UPDATE fleet_shipped SET last_rowid = ? WHERE id = 0");
  sqlite3_bind_int64(st.get(), 1, rowid);
  if (sqlite3_step(st.get()) != SQLITE_DONE) fail(db_, "store: writing the fleet mark");
}

std::vector<ShipRow> ShipSource::read_after(std::int64_t rowid, std::size_t limit) {
  const std::string sql = std::string("SELECT rowid, ") + kSessionColumns +
                          " FROM sessions WHERE rowid > ? ORDER BY rowid LIMIT ?";
  auto st = must_prepare(db_, sql.c_str());
  sqlite3_bind_int64(st.get(), 1, rowid);
  sqlite3_bind_int64(st.get(), 2, static_cast<std::int64_t>(limit));
  std::vector<ShipRow> rows;
  rows.reserve(limit);
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    ShipRow row;
    row.rowid = sqlite3_column_int64(st.get(), 0);
    row.record = read_session(st.get(), 1);
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) fail(db_, "store: reading sessions to ship");
  return rows;
}

std::uint64_t ShipSource::pack_backlog() {
  return static_cast<std::uint64_t>(single_int(db_, "SELECT count(*) FROM pack_changes"));
}

std::vector<PackChange> ShipSource::pack_changes(std::size_t limit) {
  auto st = must_prepare(db_, "SELECT level, start, seq FROM pack_changes ORDER BY seq LIMIT ?");
  sqlite3_bind_int64(st.get(), 1, static_cast<std::int64_t>(limit));
  std::vector<PackChange> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW)
    out.push_back({sqlite3_column_int(st.get(), 0), sqlite3_column_int64(st.get(), 1), sqlite3_column_int64(st.get(), 2)});
  if (rc != SQLITE_DONE) fail(db_, "store: reading pack changes");
  return out;
}

bool ShipSource::read_unit(int level, std::int64_t start, std::vector<ShipPack>& packs) {
  packs.clear();
  // One snapshot: the packer writes a unit's packs and its rollup_packed row together.
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) fail(db_, "store");
  bool packed = false;
  try {
    auto mark = must_prepare(db_, "SELECT 1 FROM rollup_packed WHERE level = ?1 AND start = ?2");
    sqlite3_bind_int(mark.get(), 1, level);
    sqlite3_bind_int64(mark.get(), 2, start);
    packed = sqlite3_step(mark.get()) == SQLITE_ROW;
    if (packed) {
      auto st = must_prepare(db_, "SELECT kind, direction, listener, data FROM rollup_pack WHERE " SMTP_SENSOR_ALL_KINDS " "
                                  "AND level = ?1 AND start = ?2");
      sqlite3_bind_int(st.get(), 1, level);
      sqlite3_bind_int64(st.get(), 2, start);
      int rc;
      while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        ShipPack p;
        p.kind = sqlite3_column_int(st.get(), 0);
        p.direction = sqlite3_column_int(st.get(), 1);
        p.listener = std::string(column_text(st.get(), 2));
        p.data.assign(static_cast<const char*>(sqlite3_column_blob(st.get(), 3)),
                      static_cast<std::size_t>(sqlite3_column_bytes(st.get(), 3)));
        packs.push_back(std::move(p));
      }
      if (rc != SQLITE_DONE) fail(db_, "store: reading packs to ship");
    }
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  return packed;
}

void ShipSource::clear_pack_changes(const std::vector<PackChange>& done) {
  auto st = must_prepare(db_, "DELETE FROM pack_changes WHERE level = ?1 AND start = ?2 AND seq = ?3");
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) fail(db_, "store");
  for (const auto& c : done) {
    sqlite3_bind_int(st.get(), 1, c.level);
    sqlite3_bind_int64(st.get(), 2, c.start);
    sqlite3_bind_int64(st.get(), 3, c.seq);
    if (sqlite3_step(st.get()) != SQLITE_DONE) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      fail(db_, "store: clearing shipped pack changes");
    }
    sqlite3_reset(st.get());
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) fail(db_, "store: clearing shipped pack changes");
}

}  // namespace smtp::store
