// Finished sessions read back for investigation (SPEC section 13): GET /sessions/history
// and the transcript position of one LCID.
#pragma once

#include "store/session_record.hpp"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace smtp::store {

// Every column of a SessionRecord, in the order read_session reads them.
inline constexpr const char* kSessionColumns =
    "lcid, start_ms, end_ms, listener, client_ip, client_port, upstream, helo, tls, auth_user, auth_result, domain, "
    "messages, recipients, commands, bad_commands, permanent_failures, termination, blocked, bytes_in, bytes_out, "
    "tls_version, tls_cipher, transcript_file, transcript_offset, direction, user_name";
// One row of "SELECT ... kSessionColumns ..." whose first column of them is at `first`.
SessionRecord read_session(sqlite3_stmt* st, int first);

struct HistoryQuery {
  std::string ip, user, domain;  // "" matches any
  std::optional<std::string> listener;
  std::int64_t from_ms = 0;  // start_ms in [from_ms, to_ms)
  std::int64_t to_ms = INT64_MAX;
  std::size_t limit = 100;
};

// Thrown when a query runs past its time budget (SQLite interrupted it).
struct HistoryTimeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The newest sessions first. Each of ip, user and domain has an index with start_ms
// (schema v5), so the newest `limit` of one key are read straight off it.
std::vector<SessionRecord> query_history(sqlite3* db, const HistoryQuery& q,
                                         std::chrono::milliseconds budget = std::chrono::seconds(2));

// Sessions with a failed or unadvertised AUTH (a guess, or a probe) per client IP in [from_ms, to_ms), for the investigation's
// top-IPs step: one range of the (client_ip, start_ms) index per IP, so a page of 50 IPs
// costs 50 index probes whatever the store's size. Counts follow `ips`' order.
std::vector<std::uint64_t> auth_failures_by_ip(sqlite3* db, const std::vector<std::string>& ips, std::int64_t from_ms,
                                               std::int64_t to_ms, const std::optional<std::string>& listener,
                                               std::chrono::milliseconds budget = std::chrono::seconds(2));

struct StoredPosition {
  std::uint64_t lcid = 0;
  std::int64_t start_ms = 0;
  std::uint64_t file = 0;  // 0: no position kept (older row, transcripts off)
  std::uint64_t offset = 0;
};
// The newest row of that LCID, if any.
std::optional<StoredPosition> transcript_position(sqlite3* db, std::uint64_t lcid);

}  // namespace smtp::store
