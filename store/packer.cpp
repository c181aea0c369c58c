#include "store/packer.hpp"

#include "store/pack.hpp"
#include "store/schema.hpp"

#include <sqlite3.h>

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace smtp::store {
namespace {

std::int64_t query_int(sqlite3* db, const char* sql, std::int64_t none) {
  const auto st = prepare(db, sql);
  if (st && sqlite3_step(st.get()) == SQLITE_ROW && sqlite3_column_type(st.get(), 0) != SQLITE_NULL)
    return sqlite3_column_int64(st.get(), 0);
  return none;
}

struct PairHash {
  std::size_t operator()(const std::pair<std::string, std::string>& p) const {
    return std::hash<std::string>{}(p.first) * 31 ^ std::hash<std::string>{}(p.second);
  }
};

constexpr Level kLevels[] = {Level::quarter_hour, Level::hour, Level::day, Level::week, Level::month};
constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();

// What a unit is merged from; quarter hours are packed from the rows.
Level child_of(Level level) {
  switch (level) {
    case Level::hour: return Level::quarter_hour;
    case Level::day: return Level::hour;
    default: return Level::day;
  }
}

}  // namespace

Packer::Packer(sqlite3* db, std::size_t max_merge_bytes)
    : db_(db), max_merge_bytes_(max_merge_bytes), newest_ms_(query_int(db, "SELECT max(start_ms) FROM sessions", kNone)) {
  const auto st = prepare(db, "SELECT level, start FROM rollup_packed");
  while (st && sqlite3_step(st.get()) == SQLITE_ROW)
    packed_.insert({static_cast<Level>(sqlite3_column_int(st.get(), 0)), sqlite3_column_int64(st.get(), 1)});
}

void Packer::touch(std::int64_t start_ms) {
  if (start_ms > newest_ms_) newest_ms_ = start_ms;
  const std::int64_t t = floor_seconds(start_ms);
  for (const Level level : kLevels) {
    const Unit unit{level, unit_start(level, t)};
    if (auto it = scan_from_.find(level); it != scan_from_.end() && unit.second < it->second) it->second = unit.second;
    too_big_.erase(unit);  // its size changes: worth another look
    if (packed_.erase(unit) == 0) continue;
    for (const char* sql : {"DELETE FROM rollup_pack WHERE " SMTP_SENSOR_ALL_KINDS " AND level = ?1 AND start = ?2",
                            "DELETE FROM rollup_packed WHERE level = ?1 AND start = ?2"}) {
      const auto st = prepare(db_, sql);
      sqlite3_bind_int(st.get(), 1, static_cast<int>(level));
      sqlite3_bind_int64(st.get(), 2, unit.second);
      sqlite3_step(st.get());
    }
    if (level == Level::week || level == Level::month) not_before_[unit] = Clock::now() + kRemergeDelay;
  }
}

void Packer::forget_before(std::int64_t cutoff_s) {
  for (auto it = packed_.begin(); it != packed_.end();)
    it = it->second < unit_start(it->first, cutoff_s) ? packed_.erase(it) : std::next(it);
  for (auto it = not_before_.begin(); it != not_before_.end();)
    it = it->first.second < unit_start(it->first.first, cutoff_s) ? not_before_.erase(it) : std::next(it);
  for (auto it = too_big_.begin(); it != too_big_.end();)
    it = it->second < unit_start(it->first, cutoff_s) ? too_big_.erase(it) : std::next(it);
  floor_s_ = unit_start(Level::quarter_hour, cutoff_s);
  for (auto& [level, from] : scan_from_) from = std::max(from, unit_start(level, floor_s_));
}

bool Packer::children_packed(Level level, std::int64_t start) const {
  const Level child = child_of(level);
  const std::int64_t end = next_unit(level, start);
  // A child wholly before the retention floor has no rows left: it counts as empty.
  for (std::int64_t c = start; c < end; c = next_unit(child, c))
    if (next_unit(child, c) > floor_s_ && !packed_.count({child, c})) return false;
  return true;
}

bool Packer::run(Clock::time_point deadline) {
  if (newest_ms_ == kNone || Clock::now() < resume_at_) return false;
  if (scan_from_.empty()) {
    // Units before the oldest row still get (empty) packs back to the start of the
    // week that holds the first day of its month, so that every week and month holding
    // a row can be merged from complete children; but none before the retention floor.
    const std::int64_t oldest = floor_seconds(query_int(db_, "SELECT min(start_ms) FROM sessions", newest_ms_));
    const std::int64_t base =
        std::max(unit_start(Level::week, unit_start(Level::month, oldest)), floor_s_);
    for (const Level level : kLevels) scan_from_[level] = unit_start(level, base);
  }
  const std::int64_t horizon = floor_seconds(newest_ms_) - kGrace;
  for (const Level level : kLevels) {
    std::int64_t& cursor = scan_from_[level];
    std::int64_t gap = kNone;  // the first unit left unpacked
    std::int64_t s = cursor;
    for (; next_unit(level, s) <= horizon; s = next_unit(level, s)) {
      const Unit unit{level, s};
      if (packed_.count(unit)) continue;
      const bool leaf = level == Level::quarter_hour;
      bool ready = leaf || (!too_big_.count(unit) && children_packed(level, s));
      if (auto it = not_before_.find(unit); ready && it != not_before_.end()) ready = Clock::now() >= it->second;
      if (ready && Clock::now() >= deadline) {
        if (gap == kNone) gap = s;
        cursor = gap;
        return true;
      }
      if (!ready || !(leaf ? pack_rows(s) : pack_parent(level, s))) {
        if (gap == kNone) gap = s;
        if (Clock::now() < resume_at_) {  // the write was refused: rest, then from here
          cursor = gap;
          return false;
        }
      }
    }
    cursor = gap == kNone ? s : gap;
  }
  return false;
}

bool Packer::pack_rows(std::int64_t start) {
  const auto st = prepare(db_, (session_keys_select(true) + " WHERE start_ms >= ?1 AND start_ms < ?2").c_str());
  if (!st) return false;
  sqlite3_bind_int64(st.get(), 1, start * 1000);
  sqlite3_bind_int64(st.get(), 2, next_unit(Level::quarter_hour, start) * 1000);
  // Summed per scope and key as the rows come, so memory follows the distinct keys of
  // the quarter hour, not its sessions (at 20,000 sessions/s a quarter hour holds 18
  // million).
  using Sums = std::array<std::unordered_map<std::pair<std::string, std::string>, Counts, PairHash>, kPackKindCount>;
  std::map<Scope, Sums> scopes;
  Scope scope;
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    const SessionKeys k = read_session_keys(st.get());
    scope.first = k.outbound ? 1 : 0;
    scope.second.assign(k.listener);
    Sums& sums = scopes[scope];
    auto add = [&](PackKind kind, std::string_view key, std::string_view domain) {
      auto& to = sums[static_cast<std::size_t>(kind)][{std::string(key), std::string(domain)}];
      for (std::size_t i = 0; i < to.size(); ++i) to[i] += k.counts[i];
    };
    add(PackKind::total, {}, {});
    if (!k.domain.empty()) add(PackKind::domain, k.domain, {});
    if (!k.user.empty()) add(PackKind::user, k.user, k.domain);
    if (!k.ip.empty()) {
      add(PackKind::ip, k.ip, {});
      add(PackKind::ip_domain, k.ip, k.domain);
    }
  }
  ScopeBlobs blobs;
  for (auto& [scope, sums] : scopes) {
    auto& out = blobs[scope];
    for (std::size_t kind = 0; kind < kPackKindCount; ++kind) {
      std::vector<OwnedEntry> entries;
      entries.reserve(sums[kind].size());
      for (auto& [key, c] : sums[kind]) entries.push_back({key.first, key.second, c});
      sums[kind].clear();
      out[kind] = encode_sorted(std::move(entries));
    }
  }
  return store(Level::quarter_hour, start, blobs);
}

bool Packer::pack_parent(Level level, std::int64_t start) {
  // A week's or month's children: the larger cache for this merge only (shrinking it
  // again frees the pages). Best effort: a failed PRAGMA only costs speed.
  struct MergeCache {
    sqlite3* db;
    static void set(sqlite3* d, int kib) {
      if (d) sqlite3_exec(d, ("PRAGMA cache_size = " + std::to_string(kib)).c_str(), nullptr, nullptr, nullptr);
    }
    explicit MergeCache(sqlite3* d) : db(d) { set(db, kMergeCacheKiB); }
    ~MergeCache() { set(db, kSteadyCacheKiB); }
    MergeCache(const MergeCache&) = delete;
    MergeCache& operator=(const MergeCache&) = delete;
  } cache(level == Level::week || level == Level::month ? db_ : nullptr);
  // length() of a blob reads its record header only, not its pages.
  const auto size = prepare(db_, "SELECT sum(length(data)) FROM rollup_pack WHERE " SMTP_SENSOR_ALL_KINDS
                                 " AND level = ?1 AND start >= ?2 AND start < ?3");
  const auto st = prepare(db_,
                          "SELECT direction, listener, data FROM rollup_pack WHERE kind = ?4 AND level = ?1 AND start >= ?2 "
                          "AND start < ?3 ORDER BY direction, listener");
  if (!size || !st) return false;
  for (sqlite3_stmt* q : {size.get(), st.get()}) {
    sqlite3_bind_int(q, 1, static_cast<int>(child_of(level)));
    sqlite3_bind_int64(q, 2, start);
    sqlite3_bind_int64(q, 3, next_unit(level, start));
  }
  const std::uint64_t bytes =
      sqlite3_step(size.get()) == SQLITE_ROW ? static_cast<std::uint64_t>(sqlite3_column_int64(size.get(), 0)) : 0;
  if (bytes > max_merge_bytes_) {
    too_big_.insert({level, start});
    return false;
  }
  ScopeBlobs blobs;
  for (const PackKind kind : kPackKinds) {
    sqlite3_bind_int(st.get(), 4, static_cast<int>(kind));
    // The children come grouped by scope: each group is merged when the next begins.
    std::optional<Scope> scope;
    std::vector<std::string> children;
    auto flush = [&] {
      if (scope) blobs[*scope][static_cast<std::size_t>(kind)] = merge_packs(children);
      children.clear();
    };
    while (sqlite3_step(st.get()) == SQLITE_ROW) {
      Scope s{sqlite3_column_int(st.get(), 0), std::string(column_text(st.get(), 1))};
      if (scope != s) {
        flush();
        scope = std::move(s);
      }
      children.emplace_back(static_cast<const char*>(sqlite3_column_blob(st.get(), 2)),
                            static_cast<std::size_t>(sqlite3_column_bytes(st.get(), 2)));
    }
    flush();
    sqlite3_reset(st.get());
  }
  return store(level, start, blobs);
}

bool Packer::store(Level level, std::int64_t start, const ScopeBlobs& blobs) {
  const auto st = prepare(db_,
                          "INSERT OR REPLACE INTO rollup_pack (kind, level, start, direction, listener, data) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  const auto mark = prepare(db_, "INSERT OR REPLACE INTO rollup_packed (level, start) VALUES (?1, ?2)");
  if (!st || !mark) return false;
  bool ok = sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK;
  // An empty blob is left out: a packed unit (rollup_packed) without a scope's row has
  // no sessions of that scope.
  for (const auto& [scope, kinds] : blobs)
    for (const PackKind kind : kPackKinds) {
      const auto& b = kinds[static_cast<std::size_t>(kind)];
      if (b.empty()) continue;
      sqlite3_bind_int(st.get(), 1, static_cast<int>(kind));
      sqlite3_bind_int(st.get(), 2, static_cast<int>(level));
      sqlite3_bind_int64(st.get(), 3, start);
      sqlite3_bind_int(st.get(), 4, scope.first);
      sqlite3_bind_text(st.get(), 5, scope.second.data(), static_cast<int>(scope.second.size()), SQLITE_STATIC);
      sqlite3_bind_blob(st.get(), 6, b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
      ok = ok && sqlite3_step(st.get()) == SQLITE_DONE;
      sqlite3_reset(st.get());
    }
  sqlite3_bind_int(mark.get(), 1, static_cast<int>(level));
  sqlite3_bind_int64(mark.get(), 2, start);
  ok = ok && sqlite3_step(mark.get()) == SQLITE_DONE;
  ok = ok && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  if (ok) {
    packed_.insert({level, start});
    not_before_.erase({level, start});
  } else {
    rollback_if_open(db_);
    resume_at_ = Clock::now() + kRetryAfterFailure;
  }
  return ok;
}

}  // namespace smtp::store
