#include "fleet/pg.hpp"

#include <fstream>
#include <string>

namespace smtp::fleet {
namespace {

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running
// ..."); a log line must stay one line.
std::string trim_message(const char* m) {
  std::string s;
  for (const char* p = m ? m : "unknown libpq error"; *p; ++p) {
    if (*p == '\n' || *p == '\t' || *p == '\r') {
      if (!s.empty() && s.back() != ' ') s += ' ';
    } else {
      s += *p;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

struct OptionsDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

}  // namespace

std::string read_password_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read fleet.password_file " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::optional<std::string> check_url(const std::string& url) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, OptionsDeleter> opts(PQconninfoParse(url.c_str(), &err));
  if (opts) return std::nullopt;
  std::string msg = trim_message(err ? err : "not a libpq connection string");
  PQfreemem(err);
  return msg;
}

std::string describe_url(const std::string& url) {
  std::unique_ptr<PQconninfoOption, OptionsDeleter> opts(PQconninfoParse(url.c_str(), nullptr));
  if (!opts) return "(malformed fleet.url)";
  std::string user, host, port, db;
  for (auto* o = opts.get(); o->keyword; ++o) {
    const std::string_view k = o->keyword;
    const std::string v = o->val ? o->val : "";
    if (k == "user") user = v;
    else if (k == "host" || (k == "hostaddr" && host.empty())) host = v;
    else if (k == "port") port = v;
    else if (k == "dbname") db = v;
  }
  std::string out;
  if (!user.empty()) out += user + "@";
  out += host.empty() ? "localhost" : host;
  if (!port.empty()) out += ":" + port;
  if (!db.empty()) out += "/" + db;
  return out;
}

Connection::Connection(const ConnectInfo& info) {
  const std::string timeout = std::to_string(info.connect_timeout_s);
  // expand_dbname: "dbname" carries the whole URL; a keyword overrides those before it,
  // so the URL's own settings win over these defaults, and the password file over both.
  // tcp_user_timeout and keepalives: a database that vanishes without a FIN (a cut link)
  // fails the shipper's statement within about 30 s instead of never.
  std::vector<const char*> keys{"connect_timeout", "application_name", "tcp_user_timeout", "keepalives_idle",
                                "keepalives_interval", "keepalives_count", "dbname"};
  std::vector<const char*> values{timeout.c_str(), info.application_name.c_str(), "30000", "10", "5", "3", info.url.c_str()};
  if (!info.password.empty()) {
    keys.push_back("password");
    values.push_back(info.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_.reset(PQconnectdbParams(keys.data(), values.data(), 1));
  if (!conn_) throw PgError("cannot allocate a libpq connection", "");
  if (PQstatus(conn_.get()) != CONNECTION_OK) throw PgError(trim_message(PQerrorMessage(conn_.get())), "");
  // Notices (e.g. "relation already exists, skipping") would go to stderr unformatted.
  PQsetNoticeProcessor(conn_.get(), [](void*, const char*) {}, nullptr);
}

void Connection::fail(const PGresult* r) const {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = r ? trim_message(PQresultErrorMessage(r)) : trim_message(PQerrorMessage(conn_.get()));
  if (msg.empty()) msg = trim_message(PQerrorMessage(conn_.get()));
  throw PgError(msg, state ? state : "");
}

Result Connection::exec(const char* sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  Result r(PQexecParams(conn_.get(), sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_COPY_IN) fail(r.get());
  return r;
}

void Connection::exec_script(const char* sql) {
  Result r(PQexec(conn_.get(), sql));
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r.get());
}

void Connection::put_copy_data(std::string_view data) {
  if (PQputCopyData(conn_.get(), data.data(), static_cast<int>(data.size())) != 1) fail(nullptr);
}

void Connection::end_copy() {
  if (PQputCopyEnd(conn_.get(), nullptr) != 1) fail(nullptr);
  Result r(PQgetResult(conn_.get()));
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  // Drain to the end so the connection is ready for the next command.
  while (PGresult* more = PQgetResult(conn_.get())) PQclear(more);
  if (status != PGRES_COMMAND_OK) fail(r.get());
}

std::int64_t BinaryRow::be(int col, int bytes) const {
  if (PQgetlength(r, 0, col) != bytes) throw std::runtime_error("unexpected column from the fleet database");
  const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r, 0, col));
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | p[i];
  return bytes == 2 ? static_cast<std::int16_t>(v) : static_cast<std::int64_t>(v);
}

std::uint64_t binary_rows(Connection& db, const std::string& sql, const std::vector<std::string>& params,
                          const std::function<void(const BinaryRow&)>& row) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  if (!PQsendQueryParams(db.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 1) ||
      !PQsetSingleRowMode(db.get()))
    throw PgError(PQerrorMessage(db.get()), "");
  std::uint64_t n = 0;
  std::string error, state;
  while (PGresult* raw = PQgetResult(db.get())) {
    Result r(raw);
    const auto status = PQresultStatus(raw);
    if (status == PGRES_SINGLE_TUPLE) {
      if (error.empty()) {
        try {
          row(BinaryRow{raw});
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      ++n;
    } else if (status != PGRES_TUPLES_OK && error.empty()) {
      const char* code = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
      error = PQresultErrorMessage(raw), state = code ? code : "";
    }
  }
  if (!error.empty()) throw PgError(error, state);
  return n;
}

}  // namespace smtp::fleet
