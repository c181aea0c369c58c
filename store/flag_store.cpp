#include "store/flag_store.hpp"

#include "store/schema.hpp"

#include <stdexcept>

namespace smtp::store {

FlagStore::FlagStore(const std::string& path) : db_(open_store(path)) {}

FlagStore::~FlagStore() { sqlite3_close(db_); }

std::vector<StoredFlag> FlagStore::load(std::int64_t now_ms) {
  auto del = prepare(db_, "DELETE FROM flags WHERE expires_ms <= ?");
  sqlite3_bind_int64(del.get(), 1, now_ms);
  sqlite3_step(del.get());
  std::vector<StoredFlag> out;
  auto st = prepare(db_, "SELECT key, type, since_ms, expires_ms, count, block, manual, reason, sensor FROM flags");
  while (st && sqlite3_step(st.get()) == SQLITE_ROW) {
    StoredFlag f;
    f.key = column_text(st.get(), 0);
    f.type = column_text(st.get(), 1);
    f.since_ms = sqlite3_column_int64(st.get(), 2);
    f.expires_ms = sqlite3_column_int64(st.get(), 3);
    f.count = static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 4));
    f.block = sqlite3_column_int(st.get(), 5) != 0;
    f.manual = sqlite3_column_int(st.get(), 6) != 0;
    f.reason = column_text(st.get(), 7);
    f.sensor = column_text(st.get(), 8);
    out.push_back(std::move(f));
  }
  return out;
}

void FlagStore::apply(const std::vector<std::pair<std::string, std::optional<StoredFlag>>>& changes) {
  if (changes.empty()) return;
  auto put = prepare(db_,
                     "INSERT OR REPLACE INTO flags (key, type, since_ms, expires_ms, count, block, manual, reason, sensor) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto del = prepare(db_, "DELETE FROM flags WHERE key = ?");
  exec(db_, "BEGIN");
  try {
    for (const auto& [key, f] : changes) {
      if (f) {
        sqlite3_reset(put.get());
        sqlite3_bind_text(put.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(put.get(), 2, f->type.data(), static_cast<int>(f->type.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(put.get(), 3, f->since_ms);
        sqlite3_bind_int64(put.get(), 4, f->expires_ms);
        sqlite3_bind_int64(put.get(), 5, static_cast<std::int64_t>(f->count));
        sqlite3_bind_int(put.get(), 6, f->block);
        sqlite3_bind_int(put.get(), 7, f->manual);
        sqlite3_bind_text(put.get(), 8, f->reason.data(), static_cast<int>(f->reason.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(put.get(), 9, f->sensor.data(), static_cast<int>(f->sensor.size()), SQLITE_TRANSIENT);
        if (sqlite3_step(put.get()) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
      } else {
        sqlite3_reset(del.get());
        sqlite3_bind_text(del.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
        if (sqlite3_step(del.get()) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
      }
    }
    exec(db_, "COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace smtp::store
