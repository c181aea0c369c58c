// The fleet database's schema (SPEC 10): an append-only list of migrations, versioned in
// a schema_version table and applied under an advisory lock so sensors that start together
// never race; a database newer than this binary is refused.
#pragma once

#include "fleet/pg.hpp"

#include <span>
#include <stdexcept>
#include <string>

namespace smtp::fleet {

inline constexpr int kSchemaVersion = 5;

// The migrations in order: entry i takes the schema from version i to i+1.
std::span<const char* const> migrations();

// Why the schema cannot be used (too new, too old and this role may not upgrade it).
struct SchemaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The version the database is at; 0 when it has no schema_version table.
int schema_version(Connection& db);

// What ensure_schema found.
struct SchemaOutcome {
  int before = 0;
  int after = 0;
};

// Brings the schema up to kSchemaVersion. A current schema needs no DDL (a sensor's
// writer role may hold none); an old one is migrated under pg_advisory_xact_lock, and
// when the role may not, SchemaError says to run `smtp-sensor fleet init`. Throws
// SchemaError or PgError.
SchemaOutcome ensure_schema(Connection& db);

}  // namespace smtp::fleet
