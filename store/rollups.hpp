// The trend roll-up: a batch's sessions summed per UTC hour and quarter hour in memory,
// then added to rollup_trend with one UPSERT per unit. (The per-key totals are packed
// separately, store/packer.hpp.)
#pragma once

#include "store/pack.hpp"
#include "store/session_record.hpp"
#include "store/time_units.hpp"

#include <cstdint>
#include <map>
#include <utility>

struct sqlite3;

namespace smtp::store {

class TrendBatch {
 public:
  void add(const SessionRecord& r);
  // Adds the sums to rollup_trend (inside the caller's transaction) and empties the
  // batch. Returns false if SQLite refused a statement.
  bool write(sqlite3* db);

 private:
  std::map<std::pair<Level, std::int64_t>, Counts> units_;  // level, UTC start (s) -> sums
};

// Drops roll-up units (trend rows and packs) that lie wholly before cutoff (Unix
// seconds): a unit that straddles the cutoff stays until it has passed entirely.
void prune_rollups(sqlite3* db, std::int64_t cutoff);

}  // namespace smtp::store
