#include "store/rollups.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace smtp::store {
namespace {

constexpr Level kKeyLevels[] = {Level::day, Level::week, Level::month};

constexpr const char* kSet =
    " DO UPDATE SET new_connections = new_connections + excluded.new_connections,"
    " blocked_connections = blocked_connections + excluded.blocked_connections,"
    " bad_commands = bad_commands + excluded.bad_commands, terminations = terminations + excluded.terminations,"
    " bandwidth_bytes = bandwidth_bytes + excluded.bandwidth_bytes, messages = messages + excluded.messages";
constexpr const char* kColumns =
    "new_connections, blocked_connections, bad_commands, terminations, bandwidth_bytes, messages";

using Stmt = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

Stmt prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  return Stmt(st, &sqlite3_finalize);
}

}  // namespace

std::size_t RollupBatch::KeyHash::operator()(const Key& k) const {
  const auto& [table, level, start, domain, name] = k;
  std::size_t h = std::hash<std::string>{}(name) ^ (std::hash<std::string>{}(domain) * 31);
  return h ^ (static_cast<std::size_t>(start) * 0x9e3779b97f4a7c15ULL) ^ (static_cast<std::size_t>(table) << 8) ^
         static_cast<std::size_t>(level);
}

void RollupBatch::bump(Table table, Level level, std::int64_t start, const std::string& domain, const std::string& key,
                       const Sums& c) {
  auto& s = sums_[Key{table, level, start, domain, key}];
  for (std::size_t i = 0; i < s.size(); ++i) s[i] += c[i];
}

void RollupBatch::add(const SessionRecord& r) {
  // The per-session counters of SPEC section 8; terminations as the metric counts them.
  const Sums c{1,
               r.blocked ? 1 : 0,
               r.bad_commands,
               (r.termination != "quit" ? 1 : 0) + static_cast<std::int64_t>(r.permanent_failures),
               static_cast<std::int64_t>(r.bytes_in + r.bytes_out),
               r.messages};
  const std::int64_t t = r.start_ms >= 0 ? r.start_ms / 1000 : -((999 - r.start_ms) / 1000);
  static const std::string none;
  bump(kTrend, Level::hour, unit_start(Level::hour, t), none, none, c);
  const bool user_key = r.auth_result == "success" && !r.auth_user.empty();
  for (const Level level : kKeyLevels) {
    const std::int64_t start = unit_start(level, t);
    if (!r.domain.empty()) bump(kDomain, level, start, r.domain, none, c);
    if (user_key) bump(kUser, level, start, r.domain, r.auth_user, c);
    if (!r.client_ip.empty()) bump(kIp, level, start, none, r.client_ip, c);
  }
}

bool RollupBatch::write(sqlite3* db) {
  // ?1 level, ?2 start, ?3..?8 the counters, ?9 domain, ?10 user or ip.
  auto upsert = [&](const char* table, const std::string& keys, const char* key_values) {
    return prepare(db, std::string("INSERT INTO ") + table + " (level, start" + keys + ", " + kColumns +
                           ") VALUES (?1, ?2" + key_values + ", ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (level, start" + keys +
                           ")" + kSet);
  };
  Stmt st[] = {upsert("rollup_trend", "", ""), upsert("rollup_domain", ", domain", ", ?9"),
               upsert("rollup_user", ", domain, user", ", ?9, ?10"), upsert("rollup_ip", ", ip", ", ?10")};
  // In key order, so the UPSERTs walk each B-tree front to back.
  std::vector<const std::pair<const Key, Sums>*> order;
  order.reserve(sums_.size());
  for (const auto& e : sums_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
  bool ok = true;
  for (const auto* e : order) {
    const auto& [key, c] = *e;
    const auto& [table, level, start, domain, name] = key;
    sqlite3_stmt* s = st[table].get();
    if (!s) {
      ok = false;
      continue;
    }
    sqlite3_bind_int(s, 1, static_cast<int>(level));
    sqlite3_bind_int64(s, 2, start);
    for (int i = 0; i < 6; ++i) sqlite3_bind_int64(s, 3 + i, c[static_cast<std::size_t>(i)]);
    if (table == kDomain || table == kUser) sqlite3_bind_text(s, 9, domain.data(), static_cast<int>(domain.size()), SQLITE_STATIC);
    if (table == kUser || table == kIp) sqlite3_bind_text(s, 10, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) ok = false;
    sqlite3_reset(s);
  }
  sums_.clear();
  return ok;
}

void prune_rollups(sqlite3* db, std::int64_t cutoff) {
  static constexpr const char* kTables[] = {"rollup_trend", "rollup_domain", "rollup_user", "rollup_ip"};
  for (const char* table : kTables) {
    const auto st = prepare(db, std::string("DELETE FROM ") + table + " WHERE level = ?1 AND start < ?2");
    if (!st) continue;
    for (const Level level : {Level::hour, Level::day, Level::week, Level::month}) {
      sqlite3_bind_int(st.get(), 1, static_cast<int>(level));
      sqlite3_bind_int64(st.get(), 2, unit_start(level, cutoff));
      sqlite3_step(st.get());
      sqlite3_reset(st.get());
    }
  }
}

}  // namespace smtp::store
