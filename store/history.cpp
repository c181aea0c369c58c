#include "store/history.hpp"

#include "store/schema.hpp"

namespace smtp::store {
namespace {

// Interrupts the connection's statements once `budget` has passed, for as long as it lives;
// end() says whether it did (and throws HistoryTimeout if so).
class Deadline {
 public:
  Deadline(sqlite3* db, std::chrono::milliseconds budget)
      : db_(db), budget_(budget), at_(std::chrono::steady_clock::now() + budget) {
    sqlite3_progress_handler(db_, 10'000, past, this);
  }
  ~Deadline() { sqlite3_progress_handler(db_, 0, nullptr, nullptr); }
  void end() const {
    if (hit_) throw HistoryTimeout("the store took longer than " + std::to_string(budget_.count()) + " ms: narrow the query");
  }

 private:
  static int past(void* p) {
    auto* d = static_cast<Deadline*>(p);
    if (std::chrono::steady_clock::now() < d->at_) return 0;
    d->hit_ = true;
    return 1;  // interrupts the statement
  }
  sqlite3* db_;
  std::chrono::milliseconds budget_;
  std::chrono::steady_clock::time_point at_;
  bool hit_ = false;
};

}  // namespace

SessionRecord read_session(sqlite3_stmt* s, int first) {
  SessionRecord r;
  int i = first;
  auto num = [&] { return sqlite3_column_int64(s, i++); };
  auto str = [&] { return std::string(column_text(s, i++)); };
  r.lcid = static_cast<std::uint64_t>(num());
  r.start_ms = num();
  r.end_ms = num();
  r.listener = str();
  r.client_ip = str();
  r.client_port = static_cast<std::uint16_t>(num());
  r.upstream = str();
  r.helo = str();
  r.tls = num() != 0;
  r.auth_user = str();
  r.auth_result = str();
  r.domain = str();
  r.messages = static_cast<std::uint32_t>(num());
  r.recipients = static_cast<std::uint32_t>(num());
  r.commands = static_cast<std::uint32_t>(num());
  r.bad_commands = static_cast<std::uint32_t>(num());
  r.permanent_failures = static_cast<std::uint32_t>(num());
  r.termination = str();
  r.blocked = num() != 0;
  r.bytes_in = static_cast<std::uint64_t>(num());
  r.bytes_out = static_cast<std::uint64_t>(num());
  r.tls_version = str();
  r.tls_cipher = str();
  r.transcript_file = static_cast<std::uint64_t>(num());
  r.transcript_offset = static_cast<std::uint64_t>(num());
  r.outbound = num() != 0;
  r.user = str();
  return r;
}

std::vector<SessionRecord> query_history(sqlite3* db, const HistoryQuery& q, std::chrono::milliseconds budget) {
  // Only the filters given appear in the SQL, so SQLite picks the index of the one given.
  std::string sql =
      std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE start_ms >= ?1 AND start_ms < ?2";
  if (!q.ip.empty()) sql += " AND client_ip = ?3";
  if (!q.user.empty()) sql += " AND auth_user = ?4";
  if (!q.domain.empty()) sql += " AND domain = ?5";
  if (q.listener) sql += " AND listener = ?6";
  sql += " ORDER BY start_ms DESC, lcid DESC LIMIT ?7";
  auto st = prepare(db, sql.c_str());
  if (!st) throw std::runtime_error(std::string("cannot read the store: ") + sqlite3_errmsg(db));
  auto* s = st.get();
  sqlite3_bind_int64(s, 1, q.from_ms);
  sqlite3_bind_int64(s, 2, q.to_ms);
  auto text = [&](int i, const std::string& v) { sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); };
  if (!q.ip.empty()) text(3, q.ip);
  if (!q.user.empty()) text(4, q.user);
  if (!q.domain.empty()) text(5, q.domain);
  if (q.listener) text(6, *q.listener);
  sqlite3_bind_int64(s, 7, static_cast<std::int64_t>(q.limit));

  Deadline deadline(db, budget);
  std::vector<SessionRecord> rows;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    rows.push_back(read_session(s, 0));
  }
  deadline.end();
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("cannot read the store: ") + sqlite3_errmsg(db));
  return rows;
}

std::vector<std::uint64_t> auth_failures_by_ip(sqlite3* db, const std::vector<std::string>& ips, std::int64_t from_ms,
                                               std::int64_t to_ms, const std::optional<std::string>& listener,
                                               std::chrono::milliseconds budget) {
  std::string sql =
      "SELECT count(*) FROM sessions WHERE client_ip = ?1 AND start_ms >= ?2 AND start_ms < ?3 AND auth_result IN ('failure', 'unadvertised')";
  if (listener) sql += " AND listener = ?4";
  auto st = prepare(db, sql.c_str());
  if (!st) throw std::runtime_error(std::string("cannot read the store: ") + sqlite3_errmsg(db));
  auto* s = st.get();
  Deadline deadline(db, budget);
  std::vector<std::uint64_t> counts;
  int rc = SQLITE_DONE;
  for (const auto& ip : ips) {
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, ip.data(), static_cast<int>(ip.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, from_ms);
    sqlite3_bind_int64(s, 3, to_ms);
    if (listener) sqlite3_bind_text(s, 4, listener->data(), static_cast<int>(listener->size()), SQLITE_STATIC);
    if ((rc = sqlite3_step(s)) != SQLITE_ROW) break;
    counts.push_back(static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)));
    rc = SQLITE_DONE;
  }
  deadline.end();
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("cannot read the store: ") + sqlite3_errmsg(db));
  return counts;
}

std::optional<StoredPosition> transcript_position(sqlite3* db, std::uint64_t lcid) {
  auto st = prepare(db,
                    "SELECT lcid, start_ms, transcript_file, transcript_offset FROM sessions WHERE lcid = ?1 "
                    "ORDER BY start_ms DESC LIMIT 1");
  if (!st) throw std::runtime_error(std::string("cannot read the store: ") + sqlite3_errmsg(db));
  sqlite3_bind_int64(st.get(), 1, static_cast<std::int64_t>(lcid));
  if (sqlite3_step(st.get()) != SQLITE_ROW) return std::nullopt;
  return StoredPosition{static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)), sqlite3_column_int64(st.get(), 1),
                        static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 2)),
                        static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 3))};
}

}  // namespace smtp::store
