// Thin RAII over libpq: a connection, a result, parameterised statements, and the
// connection parameters (URL, password from a file) without ever logging a secret.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::fleet {

// A libpq failure; sqlstate is the five-character SQLSTATE when the server sent one
// ("" for connection failures). Messages come from libpq and never hold the password.
struct PgError : std::runtime_error {
  PgError(std::string message, std::string state) : std::runtime_error(std::move(message)), sqlstate(std::move(state)) {}
  std::string sqlstate;
};

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Where the fleet is: the URL as configured and the password read from password_file
// (empty: libpq's own PGPASSFILE or ~/.pgpass). sslmode and the rest pass through.
struct ConnectInfo {
  std::string url;
  std::string password;
  int connect_timeout_s = 5;
  std::string application_name = "smtp-sensor";
};

// Reads a password file: its first line, without the line end. Throws std::runtime_error
// naming the file (never its content) when it cannot be read.
std::string read_password_file(const std::string& path);

// nullopt when url parses as a libpq connection string or URI, else libpq's reason.
std::optional<std::string> check_url(const std::string& url);

// "user@host:port/dbname" from the URL, for log lines: never the password.
std::string describe_url(const std::string& url);

class Connection {
 public:
  // Connects (blocking, bounded by connect_timeout_s); throws PgError.
  explicit Connection(const ConnectInfo& info);
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  PGconn* get() const { return conn_.get(); }
  bool ok() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

  // Runs sql with text parameters (nullopt is NULL); throws PgError unless the result
  // is COMMAND_OK, TUPLES_OK or COPY_IN.
  Result exec(const char* sql, const std::vector<std::optional<std::string>>& params = {});
  // Runs one or more statements with no parameters; throws PgError.
  void exec_script(const char* sql);

  // COPY ... FROM STDIN: start with exec("COPY ..."), then put_copy_data, then end_copy.
  void put_copy_data(std::string_view data);
  void end_copy();

 private:
  struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  [[noreturn]] void fail(const PGresult* r) const;
  std::unique_ptr<PGconn, ConnDeleter> conn_;
};

// Cell access: text of (row, col); "" for NULL.
inline std::string_view cell(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col))};
}

// A row of a result in binary format: integers in network byte order, text and bytea raw.
struct BinaryRow {
  const PGresult* r;
  std::string_view text(int col) const { return cell(r, 0, col); }
  int int16(int col) const { return static_cast<int>(be(col, 2)); }
  std::int64_t int64(int col) const { return be(col, 8); }
  std::int64_t be(int col, int bytes) const;  // throws on a column of another width
};

// Runs sql with text parameters and hands each row, in binary and one at a time (the
// packs of a year of a fleet need not be held twice), to row; returns the rows seen.
// What row throws ends the query (the rest is drained, so the connection stays usable)
// and is thrown as a PgError.
std::uint64_t binary_rows(Connection& db, const std::string& sql, const std::vector<std::string>& params,
                          const std::function<void(const BinaryRow&)>& row);

}  // namespace smtp::fleet
