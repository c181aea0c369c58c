// Packed roll-ups (schema v4; per direction and listener since v7): the per-key totals
// of one closed UTC unit (hour, day, ISO week, month) of one kind (domain, user or ip),
// stored as a single blob sorted by key. A report reads a unit's keys in one row instead
// of one row per key: SQLite costs ~0.2 us per row stepped, and a year of day x ip is 4
// million of them.
#pragma once

#include "store/session_record.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace smtp::store {

// Stored in rollup_pack.kind: never renumber. IPs are packed twice: alone, and split
// by domain for a drill-down; one IP talks to many domains (an MX takes mail for all
// of them), so the split packs hold ~3.5 times as many entries. total (schema v7) is
// one entry, key "", summing every session of the pack's scope: the trend of one
// direction or listener (the whole server's trend is rollup_trend).
enum class PackKind : int { domain = 0, user = 1, ip = 2, ip_domain = 3, total = 4 };
inline constexpr PackKind kPackKinds[] = {PackKind::domain, PackKind::user, PackKind::ip, PackKind::ip_domain,
                                          PackKind::total};
inline constexpr std::size_t kPackKindCount = std::size(kPackKinds);
// Every kind, for SQL over rollup_pack, so that a statement over all kinds walks its
// primary key (kind, level, start, ...) rather than the whole table.
#define SMTP_SENSOR_ALL_KINDS "kind IN (0, 1, 2, 3, 4)"
static_assert(kPackKindCount == 5 && static_cast<int>(PackKind::total) == 4);

// The report's counters (SPEC section 8) in column order: new_connections,
// blocked_connections, bad_commands, terminations, bandwidth_bytes, messages.
using Counts = std::array<std::int64_t, 6>;

// What one session adds to each counter; terminations as the metric counts them.
Counts session_counts(bool blocked, std::int64_t bad_commands, std::string_view termination,
                      std::int64_t permanent_failures, std::int64_t bytes, std::int64_t messages);
inline Counts session_counts(const SessionRecord& r) {
  return session_counts(r.blocked, r.bad_commands, r.termination, r.permanent_failures,
                        static_cast<std::int64_t>(r.bytes_in + r.bytes_out), r.messages);
}

// The session columns the roll-ups sum, for "<session_keys_select(schema)> WHERE ...",
// and one such row read: the report's keys ("" when the session has none) and the
// session's counters. The user is, inbound, the AUTH user once AUTH succeeded; outbound,
// user_name (SPEC 14). The IP is, inbound, the client's; outbound, the remote server's
// (the upstream's address, without its port). Without the v7 columns (direction,
// user_name: a store older than kScopedSchema) every row reads as inbound.
std::string session_keys_select(bool v7_columns);
// Whether the store's sessions table has the v7 columns.
bool has_v7_columns(sqlite3* db);
struct SessionKeys {
  std::string_view domain, user, ip;  // views into the statement's row
  bool outbound = false;
  std::string_view listener;
  Counts counts{};
};
SessionKeys read_session_keys(sqlite3_stmt* st);

// "192.0.2.1" of "192.0.2.1:25", "2001:db8::1" of "[2001:db8::1]:25"; "" when s is
// not an address with a port.
std::string_view host_of(std::string_view host_port);

// One key of a unit. key is the report's key (domain, user or IP); domain is the
// session's domain, kept for user and ip_domain so that a drill-down can filter on it
// (empty in domain and ip packs). Entries sort by key, then domain.
struct PackEntry {
  std::string_view key;
  std::string_view domain;
  Counts counts{};
};

// Appends e to blob; entries must be appended in (key, domain) order, each pair once.
void encode(std::string& blob, const PackEntry& e);

// Walks a blob. The views point into it.
class PackReader {
 public:
  explicit PackReader(std::string_view blob) : p_(blob) {}
  // False at the end, or (counted in corrupt()) at a truncated entry.
  bool next(PackEntry& e);
  bool corrupt() const { return corrupt_; }

 private:
  std::string_view p_;
  bool corrupt_ = false;
};

// Entries with owned text, for building packs.
struct OwnedEntry {
  std::string key, domain;
  Counts counts{};
};

// Sorts entries by (key, domain), sums duplicates and encodes them.
std::string encode_sorted(std::vector<OwnedEntry> entries);

// Sums several packs of the same kind (the hours of a day, the days of a month) into one.
std::string merge_packs(const std::vector<std::string>& blobs);

}  // namespace smtp::store
