#include "store/pack.hpp"

#include "store/schema.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <queue>
#include <tuple>

namespace smtp::store {
namespace {

// LEB128: counters are small and never negative, so most take one or two bytes.
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool get_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

bool get_text(std::string_view& in, std::string_view& out) {
  std::uint64_t n = 0;
  if (!get_varint(in, n) || n > in.size()) return false;
  out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

void add(Counts& to, const Counts& c) {
  for (std::size_t i = 0; i < to.size(); ++i) to[i] += c[i];
}

}  // namespace

Counts session_counts(bool blocked, std::int64_t bad_commands, std::string_view termination,
                      std::int64_t permanent_failures, std::int64_t bytes, std::int64_t messages) {
  return {1, blocked ? 1 : 0, bad_commands, (termination != "quit" ? 1 : 0) + permanent_failures, bytes, messages};
}

std::string session_keys_select(bool v7_columns) {
  return std::string("SELECT domain, auth_user, auth_result, client_ip, blocked, bad_commands, termination, "
                     "permanent_failures, bytes_in + bytes_out, messages, listener, upstream, ") +
         (v7_columns ? "direction, user_name" : "0, ''") + " FROM sessions";
}

bool has_v7_columns(sqlite3* db) {
  const auto st = prepare(db, "SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'direction'");
  return st && sqlite3_step(st.get()) == SQLITE_ROW;
}

std::string_view host_of(std::string_view s) {
  if (s.starts_with('[')) {
    const auto close = s.find(']');
    return close == std::string_view::npos ? std::string_view{} : s.substr(1, close - 1);
  }
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || s.find(':') != colon) return {};
  return s.substr(0, colon);
}

SessionKeys read_session_keys(sqlite3_stmt* st) {
  const bool outbound = sqlite3_column_int(st, 12) != 0;
  SessionKeys k;
  k.domain = column_text(st, 0);
  k.outbound = outbound;
  k.listener = column_text(st, 10);
  if (outbound) {
    k.user = column_text(st, 13);
    k.ip = host_of(column_text(st, 11));
  } else {
    k.user = column_text(st, 2) == "success" ? column_text(st, 1) : std::string_view{};
    k.ip = column_text(st, 3);
  }
  k.counts = session_counts(sqlite3_column_int64(st, 4) != 0, sqlite3_column_int64(st, 5), column_text(st, 6),
                            sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8), sqlite3_column_int64(st, 9));
  return k;
}

void encode(std::string& blob, const PackEntry& e) {
  put_varint(blob, e.key.size());
  blob += e.key;
  put_varint(blob, e.domain.size());
  blob += e.domain;
  for (const auto c : e.counts) put_varint(blob, static_cast<std::uint64_t>(std::max<std::int64_t>(c, 0)));
}

bool PackReader::next(PackEntry& e) {
  if (p_.empty()) return false;
  bool ok = get_text(p_, e.key) && get_text(p_, e.domain);
  for (auto& c : e.counts) {
    std::uint64_t v = 0;
    ok = ok && get_varint(p_, v);
    c = static_cast<std::int64_t>(v);
  }
  if (!ok) {
    corrupt_ = true;
    p_ = {};
  }
  return ok;
}

std::string encode_sorted(std::vector<OwnedEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const OwnedEntry& a, const OwnedEntry& b) { return std::tie(a.key, a.domain) < std::tie(b.key, b.domain); });
  std::string blob;
  for (std::size_t i = 0; i < entries.size();) {
    PackEntry e{entries[i].key, entries[i].domain, entries[i].counts};
    for (++i; i < entries.size() && entries[i].key == e.key && entries[i].domain == e.domain; ++i) add(e.counts, entries[i].counts);
    encode(blob, e);
  }
  return blob;
}

std::string merge_packs(const std::vector<std::string>& blobs) {
  // A k-way merge: each blob is sorted, so the smallest head is always the next key.
  struct Head {
    PackEntry e;
    std::size_t src;
  };
  auto later = [](const Head& a, const Head& b) { return std::tie(a.e.key, a.e.domain) > std::tie(b.e.key, b.e.domain); };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
  std::vector<PackReader> readers;
  readers.reserve(blobs.size());
  for (const auto& b : blobs) readers.emplace_back(b);
  for (std::size_t i = 0; i < readers.size(); ++i) {
    Head h{{}, i};
    if (readers[i].next(h.e)) heads.push(h);
  }
  std::string out;
  while (!heads.empty()) {
    Head h = heads.top();
    heads.pop();
    PackEntry sum = h.e;
    if (readers[h.src].next(h.e)) heads.push(h);
    while (!heads.empty() && heads.top().e.key == sum.key && heads.top().e.domain == sum.domain) {
      Head d = heads.top();
      heads.pop();
      add(sum.counts, d.e.counts);
      if (readers[d.src].next(d.e)) heads.push(d);
    }
    encode(out, sum);
  }
  return out;
}

}  // namespace smtp::store
