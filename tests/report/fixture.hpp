// A hand-made session store for the report tests: sessions at chosen UTC times, written
// through SessionStore (so the roll-ups are built as the daemon builds them).
#pragma once

#include "report/format.hpp"
#include "report/report.hpp"
#include "store/packer.hpp"
#include "store/schema.hpp"
#include "store/session_store.hpp"

#include <date/date.h>
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace report_test {

using smtp::store::SessionRecord;

// Unix milliseconds of a UTC time.
inline std::int64_t utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  const auto day = date::sys_days{date::year{y} / date::month{mo} / date::day{d}};
  return std::chrono::duration_cast<std::chrono::milliseconds>(day.time_since_epoch()).count() + (h * 60LL + mi) * 60'000;
}

struct Session {
  std::int64_t start_ms;
  std::string domain;
  std::string user;
  std::string auth_result;  // "success" makes it count in user mode
  std::string ip;
  std::uint32_t messages = 0;
  std::uint32_t bad = 0;
  std::string termination = "quit";
  std::uint32_t permanent_failures = 0;
  bool blocked = false;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

// SPEC 14: what makes a session an outbound listener's (its user is user_name, its ip
// the upstream's) or another listener's; applied to the i-th session's record.
using Tweak = std::function<void(std::size_t i, SessionRecord& r)>;

inline SessionRecord record(const Session& s, std::uint64_t lcid) {
  SessionRecord r;
  r.lcid = lcid;
  r.start_ms = s.start_ms;
  r.end_ms = s.start_ms + 1000;
  r.listener = "smtp";
  r.client_ip = s.ip;
  r.client_port = 40000;
  r.upstream = "127.0.0.1:25";
  r.auth_user = s.user;
  r.auth_result = s.auth_result;
  r.domain = s.domain;
  r.messages = s.messages;
  r.recipients = s.messages;
  r.commands = 3 + s.messages + s.bad;
  r.bad_commands = s.bad;
  r.permanent_failures = s.permanent_failures;
  r.termination = s.termination;
  r.blocked = s.blocked;
  r.bytes_in = s.bytes_in;
  r.bytes_out = s.bytes_out;
  return r;
}

struct TestStore {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("report-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  std::string path = (dir / "sessions.db").string();
  static inline int counter = 0;

  explicit TestStore(const std::vector<Session>& sessions, const Tweak& tweak = {}) {
    std::filesystem::create_directories(dir);
    // Retention far beyond the test dates, so nothing is pruned whatever today is.
    smtp::store::SessionStore store(path, std::chrono::hours(24 * 365 * 100), sessions.size() + 16);
    std::uint64_t lcid = 1;
    for (const auto& s : sessions) {
      auto r = record(s, lcid++);
      if (tweak) tweak(lcid - 2, r);
      store.submit(std::move(r));
    }
    store.flush();
    REQUIRE(store.written() == sessions.size());
  }
  ~TestStore() { std::filesystem::remove_all(dir); }
  TestStore(const TestStore&) = delete;
  TestStore& operator=(const TestStore&) = delete;

  // A copy that claims schema v2, so the report ignores the roll-ups and reads rows only.
  std::string rows_only_copy() const {
    const auto copy = (dir / "rows-only.db").string();
    std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(copy.c_str(), &db) == SQLITE_OK);
    smtp::store::exec(db, "PRAGMA user_version = 2");
    sqlite3_close(db);
    return copy;
  }
};

// A query as GET /report takes it, e.g. "from=2026-11-23&to=2026-11-25&tz=UTC".
inline smtp::report::Query query(const std::string& q) {
  using namespace smtp::report;
  return parse_query(parse_url_query(q), Syntax::http, Format::json);
}

inline std::string csv(const std::string& store, const std::string& q, smtp::report::ReportStats* stats = nullptr) {
  return smtp::report::render_csv(smtp::report::run_report(store, query(q), stats));
}

}  // namespace report_test
