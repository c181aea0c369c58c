#include "store/rollups.hpp"

#include "store/schema.hpp"
#include "store/time_units.hpp"

#include <sqlite3.h>


namespace smtp::store {

void TrendBatch::add(const SessionRecord& r) {
  const std::int64_t t = floor_seconds(r.start_ms);
  const Counts c = session_counts(r);
  for (const Level level : {Level::hour, Level::quarter_hour}) {
    auto& s = units_[{level, unit_start(level, t)}];
    for (std::size_t i = 0; i < s.size(); ++i) s[i] += c[i];
  }
}

bool TrendBatch::write(sqlite3* db) {
  const auto st = prepare(db,
                          "INSERT INTO rollup_trend (level, start, new_connections, blocked_connections, bad_commands, "
                          "terminations, bandwidth_bytes, messages) VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                          "ON CONFLICT (level, start) DO UPDATE SET new_connections = new_connections + excluded.new_connections,"
                          " blocked_connections = blocked_connections + excluded.blocked_connections,"
                          " bad_commands = bad_commands + excluded.bad_commands, terminations = terminations + excluded.terminations,"
                          " bandwidth_bytes = bandwidth_bytes + excluded.bandwidth_bytes, messages = messages + excluded.messages");
  bool ok = st != nullptr;
  for (const auto& [unit, c] : units_) {
    if (!st) break;
    sqlite3_bind_int64(st.get(), 1, unit.second);
    sqlite3_bind_int(st.get(), 8, static_cast<int>(unit.first));
    for (int i = 0; i < 6; ++i) sqlite3_bind_int64(st.get(), 2 + i, c[static_cast<std::size_t>(i)]);
    if (sqlite3_step(st.get()) != SQLITE_DONE) ok = false;
    sqlite3_reset(st.get());
  }
  units_.clear();
  return ok;
}

void prune_rollups(sqlite3* db, std::int64_t cutoff) {
  if (const auto st = prepare(db, "DELETE FROM rollup_trend WHERE level = ?1 AND start < ?2"))
    for (const Level level : {Level::hour, Level::quarter_hour}) {
      sqlite3_bind_int(st.get(), 1, static_cast<int>(level));
      sqlite3_bind_int64(st.get(), 2, unit_start(level, cutoff));
      sqlite3_step(st.get());
      sqlite3_reset(st.get());
    }
  // Per kind, so that each DELETE walks the primary key (kind, level, start, ...).
  const auto st = prepare(db, "DELETE FROM rollup_pack WHERE kind = ?3 AND level = ?1 AND start < ?2");
  const auto mark = prepare(db, "DELETE FROM rollup_packed WHERE level = ?1 AND start < ?2");
  if (!st || !mark) return;
  for (const Level level : {Level::quarter_hour, Level::hour, Level::day, Level::week, Level::month}) {
    for (const PackKind kind : kPackKinds) {
      sqlite3_bind_int(st.get(), 3, static_cast<int>(kind));
      sqlite3_bind_int(st.get(), 1, static_cast<int>(level));
      sqlite3_bind_int64(st.get(), 2, unit_start(level, cutoff));
      sqlite3_step(st.get());
      sqlite3_reset(st.get());
    }
    sqlite3_bind_int(mark.get(), 1, static_cast<int>(level));
    sqlite3_bind_int64(mark.get(), 2, unit_start(level, cutoff));
    sqlite3_step(mark.get());
    sqlite3_reset(mark.get());
  }
}

}  // namespace smtp::store
