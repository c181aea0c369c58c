// The store's SQLite schema and its migrations, versioned with PRAGMA user_version.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace smtp::store {

// Called once before the first migration runs and then every second or so while
// migrations run (a back-fill over millions of rows takes minutes), so a caller can log
// and keep a supervisor's start timeout from firing.
using MigrationProgress = std::function<void()>;

// Opens (creating if needed) the database at path in WAL mode and brings its schema
// up to date. Throws std::runtime_error with SQLite's message on failure.
sqlite3* open_store(const std::string& path, bool read_only = false, const MigrationProgress& progress = {});

int schema_version(sqlite3* db);
inline constexpr int kSchemaVersion = 10;
// The first schema with direction, user_name and packs per (direction, listener).
inline constexpr int kScopedSchema = 7;

// Runs one statement with no results; throws std::runtime_error on failure.
void exec(sqlite3* db, const char* sql);

// Ends a failed write transaction if it is still open: SQLite rolls some back by itself
// (SQLITE_FULL may), and a failed COMMIT may leave one open, which refuses every BEGIN after.
void rollback_if_open(sqlite3* db);

// A prepared statement, finalized when it goes; null if SQLite refused the SQL.
using Stmt = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;
Stmt prepare(sqlite3* db, const char* sql);

// A text column as a view, valid until the statement steps again; "" for NULL.
std::string_view column_text(sqlite3_stmt* st, int i);

}  // namespace smtp::store
