#include "store/schema.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>

namespace smtp::store {
namespace {

// Each entry takes the schema from version i to i+1. Append, never edit: a database
// written by an older release must upgrade without losing rows.
constexpr const char* kMigrations[] = {
    // 1: one row per finished session.
    R"(CREATE TABLE sessions (
         lcid INTEGER NOT NULL,
         start_ms INTEGER NOT NULL,
         end_ms INTEGER NOT NULL,
         listener TEXT NOT NULL,
         client_ip TEXT NOT NULL,
         client_port INTEGER NOT NULL,
         upstream TEXT NOT NULL,
         helo TEXT NOT NULL,
         tls INTEGER NOT NULL,
         auth_user TEXT NOT NULL,
         auth_result TEXT NOT NULL,
         domain TEXT NOT NULL,
         messages INTEGER NOT NULL,
         recipients INTEGER NOT NULL,
         commands INTEGER NOT NULL,
         bad_commands INTEGER NOT NULL,
         permanent_failures INTEGER NOT NULL,
         termination TEXT NOT NULL,
         blocked INTEGER NOT NULL,
         bytes_in INTEGER NOT NULL,
         bytes_out INTEGER NOT NULL);
       CREATE INDEX sessions_start ON sessions(start_ms);
       CREATE INDEX sessions_lcid ON sessions(lcid);)",
    // 2: the negotiated TLS version and cipher ("" for a cleartext or opaque session).
    R"(ALTER TABLE sessions ADD COLUMN tls_version TEXT NOT NULL DEFAULT '';
       ALTER TABLE sessions ADD COLUMN tls_cipher TEXT NOT NULL DEFAULT '';)",
    // 3: report roll-ups (SPEC section 8): per-session counters summed per UTC unit
    // (level 0 hour, 1 day, 2 ISO week, 3 month; start in Unix seconds), back-filled
    // from the rows already stored. The writer adds to them in the same transaction as
    // the rows. Sessions with an empty key are left out of that key's table. IPs are not
    // split by domain: (domain, ip) pairs are nearly as many as sessions.
    R"(CREATE TABLE rollup_trend (level INTEGER NOT NULL, start INTEGER NOT NULL,
         new_connections INTEGER NOT NULL, blocked_connections INTEGER NOT NULL, bad_commands INTEGER NOT NULL,
         terminations INTEGER NOT NULL, bandwidth_bytes INTEGER NOT NULL, messages INTEGER NOT NULL,
         PRIMARY KEY (level, start)) WITHOUT ROWID;
       CREATE TABLE rollup_domain (level INTEGER NOT NULL, start INTEGER NOT NULL, domain TEXT NOT NULL,
         new_connections INTEGER NOT NULL, blocked_connections INTEGER NOT NULL, bad_commands INTEGER NOT NULL,
         terminations INTEGER NOT NULL, bandwidth_bytes INTEGER NOT NULL, messages INTEGER NOT NULL,
         PRIMARY KEY (level, start, domain)) WITHOUT ROWID;
       CREATE TABLE rollup_user (level INTEGER NOT NULL, start INTEGER NOT NULL, domain TEXT NOT NULL, user TEXT NOT NULL,
         new_connections INTEGER NOT NULL, blocked_connections INTEGER NOT NULL, bad_commands INTEGER NOT NULL,
         terminations INTEGER NOT NULL, bandwidth_bytes INTEGER NOT NULL, messages INTEGER NOT NULL,
         PRIMARY KEY (level, start, domain, user)) WITHOUT ROWID;
       CREATE TABLE rollup_ip (level INTEGER NOT NULL, start INTEGER NOT NULL, ip TEXT NOT NULL,
         new_connections INTEGER NOT NULL, blocked_connections INTEGER NOT NULL, bad_commands INTEGER NOT NULL,
         terminations INTEGER NOT NULL, bandwidth_bytes INTEGER NOT NULL, messages INTEGER NOT NULL,
         PRIMARY KEY (level, start, ip)) WITHOUT ROWID;
       CREATE TEMP VIEW session_units AS
         SELECT 1 AS level, (start_ms / 86400000) * 86400 AS start, domain, auth_user, auth_result, client_ip, blocked, bad_commands, termination, permanent_failures, bytes_in, bytes_out, messages FROM sessions
         UNION ALL SELECT 2, ((start_ms / 86400000 + 3) / 7 * 7 - 3) * 86400, domain, auth_user, auth_result, client_ip, blocked, bad_commands, termination, permanent_failures, bytes_in, bytes_out, messages FROM sessions
         UNION ALL SELECT 3, CAST(strftime('%s', start_ms / 1000, 'unixepoch', 'start of month') AS INTEGER), domain, auth_user, auth_result, client_ip, blocked, bad_commands, termination, permanent_failures, bytes_in, bytes_out, messages FROM sessions;
       INSERT INTO rollup_trend SELECT 0, (start_ms / 3600000) * 3600,
         count(*), sum(blocked != 0), sum(bad_commands), sum((termination != 'quit') + permanent_failures), sum(bytes_in + bytes_out), sum(messages)
         FROM sessions GROUP BY 2;
       INSERT INTO rollup_domain SELECT level, start, domain,
         count(*), sum(blocked != 0), sum(bad_commands), sum((termination != 'quit') + permanent_failures), sum(bytes_in + bytes_out), sum(messages)
         FROM session_units WHERE domain != '' GROUP BY 1, 2, 3;
       INSERT INTO rollup_user SELECT level, start, domain, auth_user,
         count(*), sum(blocked != 0), sum(bad_commands), sum((termination != 'quit') + permanent_failures), sum(bytes_in + bytes_out), sum(messages)
         FROM session_units WHERE auth_result = 'success' AND auth_user != '' GROUP BY 1, 2, 3, 4;
       INSERT INTO rollup_ip SELECT level, start, client_ip,
         count(*), sum(blocked != 0), sum(bad_commands), sum((termination != 'quit') + permanent_failures), sum(bytes_in + bytes_out), sum(messages)
         FROM session_units WHERE client_ip != '' GROUP BY 1, 2, 3;
       DROP VIEW session_units;)",
    // 4: packed roll-ups (store/pack.hpp) replace the per-key tables: one blob per kind
    // (0 domain, 1 user, 2 ip, 3 ip by domain), level and UTC unit, sorted by key. The
    // writer packs the units already stored as it goes (store/packer.hpp); until a
    // unit is packed, a report reads its finer units or its rows. The trend gains
    // quarter hours (level 4), so zones offset by half an hour read no rows either.
    R"(INSERT INTO rollup_trend SELECT 4, (start_ms / 900000) * 900,
         count(*), sum(blocked != 0), sum(bad_commands), sum((termination != 'quit') + permanent_failures), sum(bytes_in + bytes_out), sum(messages)
         FROM sessions GROUP BY 2;
       CREATE TABLE rollup_pack (kind INTEGER NOT NULL, level INTEGER NOT NULL, start INTEGER NOT NULL,
         data BLOB NOT NULL, PRIMARY KEY (kind, level, start));
       DROP TABLE rollup_domain;
       DROP TABLE rollup_user;
       DROP TABLE rollup_ip;)",
    // 5: active flags (SPEC 11), so that they survive a restart: one row per flagged
    // address or network, written from the flag table's changes off the session threads.
    R"(CREATE TABLE IF NOT EXISTS flags (key TEXT PRIMARY KEY, type TEXT NOT NULL, since_ms INTEGER NOT NULL,
         expires_ms INTEGER NOT NULL, count INTEGER NOT NULL, block INTEGER NOT NULL, manual INTEGER NOT NULL,
         reason TEXT NOT NULL) WITHOUT ROWID;)",
    // 6: investigation (SPEC section 13). Where each session's transcript lines start (the
    // transcript file's inode and the writer's offset in it as the session opened; 0, 0
    // for rows written before, or with transcripts off), and the indexes that let
    // GET /sessions/history take the newest sessions of one ip, user or domain without
    // reading the others (start_ms alone already has sessions_start).
    R"(ALTER TABLE sessions ADD COLUMN transcript_file INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE sessions ADD COLUMN transcript_offset INTEGER NOT NULL DEFAULT 0;
       CREATE INDEX sessions_ip_start ON sessions(client_ip, start_ms);
       CREATE INDEX sessions_user_start ON sessions(auth_user, start_ms);
       CREATE INDEX sessions_domain_start ON sessions(domain, start_ms);)",
    // 7: both directions (SPEC 14). Each session's listener direction (0 inbound, 1
    // outbound; rows written before read as inbound) and its user as the report counts it
    // (user_name: outbound the envelope sender unless AUTH succeeded, by user_from). The
    // packs are kept per scope, (direction, listener), so that a report for one direction
    // or one listener merges only the packs that match; which units are packed moves to
    // rollup_packed, since an empty unit has no scope. The old packs summed every listener
    // together and cannot be split: they are dropped, and the writer packs the history
    // again in the background (reports read rows meanwhile).
    R"(ALTER TABLE sessions ADD COLUMN direction INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE sessions ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
       DROP TABLE rollup_pack;
       CREATE TABLE rollup_pack (kind INTEGER NOT NULL, level INTEGER NOT NULL, start INTEGER NOT NULL,
         direction INTEGER NOT NULL, listener TEXT NOT NULL, data BLOB NOT NULL,
         PRIMARY KEY (kind, level, start, direction, listener));
       CREATE TABLE rollup_packed (level INTEGER NOT NULL, start INTEGER NOT NULL, PRIMARY KEY (level, start)) WITHOUT ROWID;)",
    // 8 (SPEC 10): how far the fleet shipper got, as the rowid of the
    // last session the fleet database committed. Rows above it are shipped, in rowid
    // order, after an outage or a restart; one row, created at 0 so history ships too.
    R"(CREATE TABLE IF NOT EXISTS fleet_shipped (id INTEGER PRIMARY KEY CHECK (id = 0), last_rowid INTEGER NOT NULL);
       INSERT OR IGNORE INTO fleet_shipped VALUES (0, 0);)",
    // 9 (SPEC 10): the sensor that raised each flag, so that /flagged and `flags list`
    // still name another sensor of the fleet after a restart, before (or without) the
    // fleet database. '' for rows written before: this sensor, as they were read then.
    R"(ALTER TABLE flags ADD COLUMN sensor TEXT NOT NULL DEFAULT '';)",
    // 10 (SPEC 10): the packed units (hour and coarser) the fleet shipper has still to copy
    // to the fleet database or delete from it: triggers on rollup_packed note every unit
    // packed, repacked, unpacked by a late session or pruned, in the transaction that
    // changes it, so nothing is missed across crashes. One row per unit (seq: the newest
    // change), so the table stays as small as the number of units even with no fleet; the
    // shipper deletes a row only if its seq is still the one it shipped. Quarter hours
    // stay local (the fleet report sums sessions for those slivers). Seeded with every
    // packed unit, so the history ships too.
    R"(CREATE TABLE IF NOT EXISTS pack_changes (level INTEGER NOT NULL, start INTEGER NOT NULL, seq INTEGER NOT NULL,
         PRIMARY KEY (level, start)) WITHOUT ROWID;
       CREATE INDEX IF NOT EXISTS pack_changes_seq ON pack_changes(seq);
       CREATE TRIGGER IF NOT EXISTS pack_changes_packed AFTER INSERT ON rollup_packed WHEN NEW.level <> 4 BEGIN
         INSERT OR REPLACE INTO pack_changes VALUES (NEW.level, NEW.start, (SELECT coalesce(max(seq), 0) + 1 FROM pack_changes));
       END;
       CREATE TRIGGER IF NOT EXISTS pack_changes_unpacked AFTER DELETE ON rollup_packed WHEN OLD.level <> 4 BEGIN
         INSERT OR REPLACE INTO pack_changes VALUES (OLD.level, OLD.start, (SELECT coalesce(max(seq), 0) + 1 FROM pack_changes));
       END;
       INSERT OR IGNORE INTO pack_changes SELECT level, start, row_number() OVER (ORDER BY start, level) FROM rollup_packed WHERE level <> 4;)",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

void migrate(sqlite3* db, int have);

}  // namespace

void rollback_if_open(sqlite3* db) {
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown SQLite error";
    sqlite3_free(err);
    throw std::runtime_error(msg);
  }
}

Stmt prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  return Stmt(st, &sqlite3_finalize);
}

std::string_view column_text(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string_view{};
}

int schema_version(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  int v = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

sqlite3* open_store(const std::string& path, bool read_only, const MigrationProgress& progress) {
  if (!read_only) {
    const auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  }
  sqlite3* db = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("cannot open store " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  try {
    if (read_only) {
      if (schema_version(db) > kSchemaVersion)
        throw std::runtime_error("store " + path + " was written by a newer smtp-sensor");
      return db;
    }
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    const int have = schema_version(db);
    if (have > kSchemaVersion) throw std::runtime_error("store " + path + " was written by a newer smtp-sensor");
    if (have < kSchemaVersion && progress) {
      progress();
      using Clock = std::chrono::steady_clock;
      struct Tick {
        const MigrationProgress* progress;
        Clock::time_point next;
      } tick{&progress, Clock::now() + std::chrono::seconds(1)};
      sqlite3_progress_handler(
          db, 1'000'000,
          [](void* p) {
            auto* t = static_cast<Tick*>(p);
            if (Clock::now() >= t->next) {
              t->next = Clock::now() + std::chrono::seconds(1);
              (*t->progress)();
            }
            return 0;
          },
          &tick);
      migrate(db, have);
      sqlite3_progress_handler(db, 0, nullptr, nullptr);
    } else {
      migrate(db, have);
    }
  } catch (...) {
    sqlite3_close(db);
    throw;
  }
  return db;
}

namespace {

void migrate(sqlite3* db, int have) {
  for (int v = have; v < kSchemaVersion; ++v) {
    exec(db, "BEGIN");
    exec(db, kMigrations[v]);
    exec(db, ("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
    exec(db, "COMMIT");
  }
}

}  // namespace

}  // namespace smtp::store
