// Builds the packed roll-ups (store/pack.hpp) on the writer's thread, a unit at a time:
// a quarter hour from its session rows, an hour from its quarters, a day from its 24
// hours, an ISO week and a month from their days. A unit is packed once the newest session written starts at least kGrace
// after its end. A session that arrives later for a packed unit (a long session is
// written when it ends) deletes that unit's packs in the transaction that writes it,
// so a report never reads a pack that misses a row; the unit is packed again later,
// and until then the report reads its finer units instead. Since schema v7 each unit
// has a pack per scope, (direction, listener), and rollup_packed lists the units packed.
#pragma once

#include "store/pack.hpp"
#include "store/time_units.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <array>
#include <map>
#include <set>
#include <string>
#include <utility>

struct sqlite3;

namespace smtp::store {

class Packer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::int64_t kGrace = 600;  // seconds
  // A week or month whose pack a late session deleted waits this long before it is
  // merged again, so a trickle of late sessions does not re-merge a month each time.
  static constexpr auto kRemergeDelay = std::chrono::minutes(5);

  // Merging a unit holds its children's packs and the result in memory: a unit whose
  // children's packs pass this many bytes (all kinds) is left unpacked, and reports
  // read its children instead. At 10 million sessions a year a month's days are ~40 MB.
  static constexpr std::size_t kMaxMergeBytes = 512u << 20;
  // SQLite cache_size (negative: KiB) of the writer's connection, steady and while a
  // parent unit is merged (a month's days are ~30 MB of packs over 200,000 IPs, read
  // once per kind: with the steady cache those pages would come from the OS again).
  static constexpr int kSteadyCacheKiB = -8192;
  static constexpr int kMergeCacheKiB = -65536;
  // After the database refuses a pack (a full disk), packing rests this long: the writer
  // must not spin retrying every due unit while the disk stays full.
  static constexpr auto kRetryAfterFailure = std::chrono::seconds(1);

  explicit Packer(sqlite3* db, std::size_t max_merge_bytes = kMaxMergeBytes);

  // For each session written, inside the writer's transaction.
  void touch(std::int64_t start_ms);
  // Builds due packs until deadline, each in a transaction of its own; returns true
  // if due work is left (false while resting after a refused write).
  bool run(Clock::time_point deadline);
  // The packs before cutoff were deleted with the rows they summed (prune_rollups).
  void forget_before(std::int64_t cutoff_s);

 private:
  using Unit = std::pair<Level, std::int64_t>;
  using Scope = std::pair<int, std::string>;  // direction (0 inbound, 1 outbound), listener
  using ScopeBlobs = std::map<Scope, std::array<std::string, kPackKindCount>>;
  bool due(Level level, std::int64_t start, std::int64_t horizon) const;
  bool children_packed(Level level, std::int64_t start) const;
  bool pack_rows(std::int64_t start);
  bool pack_parent(Level level, std::int64_t start);
  bool store(Level level, std::int64_t start, const ScopeBlobs& blobs);

  sqlite3* db_;
  std::set<Unit> packed_;
  std::map<Unit, Clock::time_point> not_before_;
  std::set<Unit> too_big_;  // left unpacked (kMaxMergeBytes) until a session changes them
  std::size_t max_merge_bytes_;
  std::map<Level, std::int64_t> scan_from_;  // per level, no unit before it is due
  std::int64_t newest_ms_;
  Clock::time_point resume_at_{};  // kRetryAfterFailure after a refused write
  std::int64_t floor_s_ = std::numeric_limits<std::int64_t>::min();  // the retention cutoff, once pruned
};

}  // namespace smtp::store
