// The report roll-ups (schema v3): a batch's sessions summed per table, UTC unit and
// key in memory, then added to the tables with one UPSERT per distinct key.
#pragma once

#include "store/session_record.hpp"
#include "store/time_units.hpp"

#include <array>
#include <cstdint>
#include <unordered_map>
#include <string>
#include <tuple>

struct sqlite3;

namespace smtp::store {

class RollupBatch {
 public:
  void add(const SessionRecord& r);
  // Adds the sums to the tables (inside the caller's transaction) and empties the batch.
  // Returns false if SQLite refused a statement.
  bool write(sqlite3* db);
  bool empty() const { return sums_.empty(); }

 private:
  enum Table : std::uint8_t { kTrend, kDomain, kUser, kIp };
  using Key = std::tuple<Table, Level, std::int64_t, std::string, std::string>;  // table, level, start, domain, key
  using Sums = std::array<std::int64_t, 6>;
  void bump(Table table, Level level, std::int64_t start, const std::string& domain, const std::string& key, const Sums& c);
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  std::unordered_map<Key, Sums, KeyHash> sums_;
};

// Drops roll-up units that lie wholly before cutoff (Unix seconds): a unit that
// straddles the cutoff stays until it has passed entirely.
void prune_rollups(sqlite3* db, std::int64_t cutoff);

}  // namespace smtp::store
