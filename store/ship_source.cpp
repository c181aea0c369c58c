#include "store/ship_source.hpp"

#include "store/history.hpp"

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

}  // namespace smtp::store
