#include "fleet/schema.hpp"

#include <cstdlib>
#include <iterator>

namespace smtp::fleet {
namespace {

// Append, never edit: a fleet database written by an older release must upgrade in place.
constexpr const char* kMigrations[] = {
    // 1: one row per finished session of every sensor, as the local store keeps it;
    // (sensor, lcid) is its identity, so a batch shipped twice adds nothing. Reports read
    // by start_ms (a sensor filter rides along): a third index would cost every insert.
    R"(CREATE TABLE sessions (
         sensor text NOT NULL,
         lcid bigint NOT NULL,
         start_ms bigint NOT NULL,
         end_ms bigint NOT NULL,
         listener text NOT NULL,
         client_ip text NOT NULL,
         client_port integer NOT NULL,
         upstream text NOT NULL,
         helo text NOT NULL,
         tls boolean NOT NULL,
         tls_version text NOT NULL,
         tls_cipher text NOT NULL,
         auth_user text NOT NULL,
         auth_result text NOT NULL,
         domain text NOT NULL,
         messages integer NOT NULL,
         recipients integer NOT NULL,
         commands integer NOT NULL,
         bad_commands integer NOT NULL,
         permanent_failures integer NOT NULL,
         termination text NOT NULL,
         blocked boolean NOT NULL,
         bytes_in bigint NOT NULL,
         bytes_out bigint NOT NULL,
         PRIMARY KEY (sensor, lcid));
       CREATE INDEX sessions_start ON sessions (start_ms);)",
    // 2: shared flags and shared counts (fleet/share_sql.hpp). A flag is one row per key,
    // removals are kept as tombstones until pruned; seq orders the changes a sensor reads.
    // events holds what the detectors count, read by id; both are pruned by the sensors.
    R"(CREATE SEQUENCE shared_flags_seq;
       CREATE TABLE shared_flags (
         key text PRIMARY KEY,
         type text NOT NULL,
         sensor text NOT NULL,
         since_ms bigint NOT NULL,
         expires_ms bigint NOT NULL,
         block boolean NOT NULL,
         manual boolean NOT NULL,
         reason text NOT NULL,
         count bigint NOT NULL,
         removed boolean NOT NULL,
         changed_by text NOT NULL,
         seq bigint NOT NULL);
       CREATE INDEX shared_flags_seq_idx ON shared_flags (seq);
       CREATE TABLE shared_events (
         id bigserial PRIMARY KEY,
         sensor text NOT NULL,
         ts_ms bigint NOT NULL,
         kind smallint NOT NULL,
         ip bytea NOT NULL,
         usr text NOT NULL);
       CREATE INDEX shared_events_ts ON shared_events (ts_ms);)",
    // 3: both directions (SPEC 14), as the local store keeps them since its v7: each
    // session's direction (0 in, 1 out) and its user as the report counts it, so that the
    // fleet report has --direction and --listener and counts outbound sessions by sender.
    R"(ALTER TABLE sessions ADD COLUMN direction smallint NOT NULL DEFAULT 0;
       ALTER TABLE sessions ADD COLUMN user_name text NOT NULL DEFAULT '';)",
    // 4: each sensor's packed roll-ups (store/pack.hpp) of its closed UTC hours, days, ISO
    // weeks and months, as its local store holds them (kind, level, scope; data is the
    // blob), and which units it has packed: the fleet report merges them as the local
    // report does and sums sessions only where no pack covers (SPEC 10). The shipper
    // replaces a unit's rows when the sensor repacks it and deletes them when a late
    // session or the retention unpacks it.
    R"(CREATE TABLE packs (
         sensor text NOT NULL,
         level smallint NOT NULL,
         start bigint NOT NULL,
         kind smallint NOT NULL,
         direction smallint NOT NULL,
         listener text NOT NULL,
         data bytea NOT NULL,
         PRIMARY KEY (sensor, level, start, kind, direction, listener));
       CREATE TABLE packed (
         sensor text NOT NULL,
         level smallint NOT NULL,
         start bigint NOT NULL,
         PRIMARY KEY (sensor, level, start));)",
    // 5: the total packs (a few bytes each) apart, for the whole fleet's trend and sensor
    // mode: in the table they sit one to a page among the big key packs, and a year of
    // hours for 4 sensors read 19,000 pages (0.65 s); an index-only scan reads 250 (15 ms).
    R"(CREATE INDEX packs_total ON packs (sensor, level, start) INCLUDE (direction, listener, data) WHERE kind = 4;)",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

// pg_advisory_xact_lock's key: "smtp-sen" as a number, so it is unlikely to collide with
// another application's lock in the same database.
constexpr const char* kLockKey = "8317995002493119854";

bool insufficient_privilege(const PgError& e) { return e.sqlstate == "42501"; }

}  // namespace

std::span<const char* const> migrations() { return kMigrations; }

int schema_version(Connection& db) {
  auto r = db.exec("SELECT to_regclass('schema_version') IS NOT NULL");
  if (cell(r.get(), 0, 0) != "t") return 0;
  r = db.exec("SELECT coalesce(max(version), 0) FROM schema_version");
  return std::atoi(std::string(cell(r.get(), 0, 0)).c_str());
}

SchemaOutcome ensure_schema(Connection& db) {
  SchemaOutcome out;
  out.before = out.after = schema_version(db);
  const auto too_new = [](int v) {
    return SchemaError("the fleet database is at schema version " + std::to_string(v) + ", newer than this smtp-sensor (" +
                       std::to_string(kSchemaVersion) + "): upgrade smtp-sensor");
  };
  if (out.before > kSchemaVersion) throw too_new(out.before);
  if (out.before == kSchemaVersion) return out;
  try {
    db.exec_script("BEGIN");
    db.exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::string(kLockKey)});
    db.exec_script("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)");
    // Another sensor or `fleet init` may have migrated while this one waited for the lock.
    const int have = schema_version(db);
    if (have > kSchemaVersion) throw too_new(have);
    for (int v = have; v < kSchemaVersion; ++v) db.exec_script(kMigrations[v]);
    db.exec_script("DELETE FROM schema_version");
    db.exec("INSERT INTO schema_version (version) VALUES ($1::integer)", {std::to_string(kSchemaVersion)});
    db.exec_script("COMMIT");
    out.after = kSchemaVersion;
    return out;
  } catch (const PgError& e) {
    PQclear(PQexec(db.get(), "ROLLBACK"));
    if (insufficient_privilege(e))
      throw SchemaError("the fleet database is at schema version " + std::to_string(out.before) + ", this smtp-sensor needs " +
                        std::to_string(kSchemaVersion) + ", and this role may not upgrade it (" + e.what() +
                        "): run `smtp-sensor fleet init` as the database owner");
    throw;
  } catch (...) {
    PQclear(PQexec(db.get(), "ROLLBACK"));
    throw;
  }
}

}  // namespace smtp::fleet
