#include "report/report.hpp"

#include "report/order.hpp"
#include "report/plan.hpp"
#include "store/pack.hpp"
#include "store/schema.hpp"
#include "store/time_units.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace smtp::report {
namespace {

using store::Level;

// The first schema with roll-up tables. Key packs are read from kScopedSchema (v7) on:
// v4 to v6 packs are per unit only, and a store the daemon has not upgraded yet is read
// from its rows.
constexpr int kRollupSchema = 3;
constexpr int kPackSchema = store::kScopedSchema;

bool filtered(const Query& q) { return q.direction != Direction::both || q.listener.has_value(); }

struct Statement {
  Statement(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("store query failed: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(st); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* st = nullptr;
};

void add_signed(Counters& to, const store::Counts& c, int sign) {
  to.new_connections += sign * c[0];
  to.blocked_connections += sign * c[1];
  to.bad_commands += sign * c[2];
  to.terminations += sign * c[3];
  to.bandwidth_bytes += sign * c[4];
  to.messages += sign * c[5];
}

}  // namespace

Source report_source(const Query& q, int schema) {
  Source s;
  if (q.mode == Mode::trend && !q.domain && !filtered(q)) {
    // The whole server's trend (quarter hours since v4).
    if (schema >= 4) s.chain = {Level::hour, Level::quarter_hour};
    else if (schema >= kRollupSchema) s.chain = {Level::hour};
    return s;
  }
  if (schema < kPackSchema) return s;
  s.packs = true;
  switch (q.mode) {
    case Mode::user: s.kind = store::PackKind::user; break;
    case Mode::ip: s.kind = q.domain ? store::PackKind::ip_domain : store::PackKind::ip; break;
    case Mode::trend: s.kind = q.domain ? store::PackKind::domain : store::PackKind::total; break;
    default: s.kind = store::PackKind::domain;
  }
  switch (q.step) {
    case Step::hour: s.chain = {Level::hour}; break;
    case Step::day: s.chain = {Level::day, Level::hour}; break;
    case Step::week: s.chain = {Level::week, Level::day, Level::hour}; break;
    case Step::month:
    case Step::quarter: s.chain = {Level::month, Level::day, Level::hour}; break;
  }
  s.chain.push_back(Level::quarter_hour);
  return s;
}

namespace {

// Byte order of two keys, eight bytes at a time: the merge compares keys several times
// per entry, and keys (IPs, addresses) are short enough that a call to memcmp costs
// more than the comparison.
inline bool key_less(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) {
      if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(x) < __builtin_bswap64(y);
      else return x < y;
    }
  }
  for (; i < n; ++i)
    if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  return a.size() < b.size();
}

// One sorted source of (key, counters) for a period: a pack, or session rows summed.
struct Run {
  // A unit may have several packs that match (one per listener and direction), all
  // read by one statement, so each run keeps a copy of its blob; the buffer is reused
  // from period to period.
  std::string blob;
  bool packed = false;                                      // reads a pack, else rows
  std::vector<std::pair<std::string, store::Counts>> rows;  // summed session rows, sorted
  store::PackReader reader{std::string_view{}};
  std::size_t at = 0;
  int sign = 1;
  std::string_view key;  // the current entry
  store::Counts counts{};
};

// Reads the session rows of the spans and the packs of the units, and merges them per
// period in key order; emits a row per key with sessions (every period in trend mode).
class Scanner {
 public:
  Scanner(sqlite3* db, const Query& q, const Source& src, bool v7_columns, ReportStats& stats, const PackSource* packs)
      : q_(q), src_(src), stats_(stats), source_(packs),
        trend_(db, "SELECT new_connections, blocked_connections, bad_commands, terminations, bandwidth_bytes, messages "
                   "FROM rollup_trend WHERE level = ?1 AND start = ?2"),
        rows_(db, rows_sql(q, v7_columns)) {
    if (q.domain) sqlite3_bind_text(rows_.st, 3, q.domain->data(), static_cast<int>(q.domain->size()), SQLITE_STATIC);
    if (q.listener) sqlite3_bind_text(rows_.st, 4, q.listener->data(), static_cast<int>(q.listener->size()), SQLITE_STATIC);
    if (src.packs && !source_) {
      // Every scope's pack of the unit that the query's direction and listener take.
      pack_ = std::make_unique<Statement>(
          db, "SELECT data FROM rollup_pack WHERE kind = ?1 AND level = ?2 AND start = ?3 AND (?4 < 0 OR direction = ?4) "
              "AND (?5 IS NULL OR listener = ?5)");
      sqlite3_bind_int(pack_->st, 1, static_cast<int>(src.kind));
      sqlite3_bind_int(pack_->st, 4, q.direction == Direction::both ? -1 : q.direction == Direction::out ? 1 : 0);
      if (q.listener)
        sqlite3_bind_text(pack_->st, 5, q.listener->data(), static_cast<int>(q.listener->size()), SQLITE_STATIC);
    }
  }

  static std::string rows_sql(const Query& q, bool v7_columns) {
    std::string sql = store::session_keys_select(v7_columns) + " WHERE start_ms >= ?1 AND start_ms < ?2";
    if (q.domain) sql += " AND domain = ?3";
    if (q.listener) sql += " AND listener = ?4";
    if (q.direction != Direction::both) {
      // Rows written before v7 are inbound.
      if (v7_columns) sql += q.direction == Direction::out ? " AND direction = 1" : " AND direction = 0";
      else if (q.direction == Direction::out) sql += " AND 0";
    }
    return sql;
  }

  bool period(std::uint32_t p, const Plan::Reads& reads, const RowSink& sink) {
    const bool trend = q_.mode == Mode::trend;
    if (trend && !src_.packs) return sink(p, {}, trend_total(reads));
    used_ = 0;
    for (const auto& u : reads.units) open_pack(u);
    for (const auto& s : reads.spans) open_rows(s);
    // A heap of runs by current key. Keys are views into the runs' blobs and rows,
    // which stay put for the whole period, so a key outlives its run's advance. The
    // top run is advanced in place and sifted down: one sift per entry, not two.
    heap_.clear();
    for (std::size_t i = 0; i < used_; ++i)
      if (advance(runs_[i])) heap_.push_back(&runs_[i]);
    for (std::size_t i = heap_.size() / 2; i-- > 0;) sift_down(i);
    bool any = false;
    while (!heap_.empty()) {
      Run* r = heap_[0];
      const std::string_view key = r->key;
      Counters sum;
      add_signed(sum, r->counts, r->sign);
      for (;;) {
        // Entries of one key come in a row within a run (a user's domains), and from
        // other runs, which then reach the top in turn.
        bool more;
        while ((more = advance(*r)) && r->key == key) add_signed(sum, r->counts, r->sign);
        if (!more) {
          heap_[0] = heap_.back();
          heap_.pop_back();
        }
        if (heap_.empty()) break;
        sift_down(0);
        r = heap_[0];
        if (r->key != key) break;
        add_signed(sum, r->counts, r->sign);
      }
      if (trend) {
        any = true;
        if (!sink(p, {}, sum)) return false;
      } else if (sum.new_connections > 0 && !sink(p, key, sum)) {
        return false;
      }
    }
    return !trend || any || sink(p, {}, Counters{});
  }

 private:
  // The next Run to fill; Runs (their statements and buffers) are kept from period to
  // period.
  Run& next_run(int sign) {
    if (used_ == runs_.size()) runs_.emplace_back();
    Run& r = runs_[used_++];
    r.packed = false;
    r.rows.clear();
    r.reader = store::PackReader(std::string_view{});
    r.at = 0;
    r.sign = sign;
    return r;
  }

  static constexpr std::size_t kDone = static_cast<std::size_t>(-1);

  void sift_down(std::size_t i) {
    const std::size_t n = heap_.size();
    Run* x = heap_[i];
    for (;;) {
      std::size_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && key_less(heap_[c + 1]->key, heap_[c]->key)) ++c;
      if (!key_less(heap_[c]->key, x->key)) break;
      heap_[i] = heap_[c];
      i = c;
    }
    heap_[i] = x;
  }

  Counters trend_total(const Plan::Reads& reads) {
    Counters sum;
    store::Counts c{};
    for (const auto& u : reads.units) {
      sqlite3_bind_int(trend_.st, 1, static_cast<int>(u.level));
      sqlite3_bind_int64(trend_.st, 2, u.start);
      if (sqlite3_step(trend_.st) == SQLITE_ROW) {
        for (int i = 0; i < 6; ++i) c[static_cast<std::size_t>(i)] = sqlite3_column_int64(trend_.st, i);
        add_signed(sum, c, u.sign);
        ++stats_.rollup_rows;
      }
      sqlite3_reset(trend_.st);
    }
    for (const auto& s : reads.spans) {
      used_ = 0;
      open_rows(s);
      for (const auto& [key, counts] : runs_[0].rows) add_signed(sum, counts, s.sign);
    }
    return sum;
  }

  void open_pack(const Plan::Unit& u) {
    if (source_) {  // views that outlive the period: no copy
      (*source_)(u.level, u.start, [&](std::string_view pack) {
        auto& r = next_run(u.sign);
        r.packed = true;
        r.reader = store::PackReader(pack);
      });
      return;
    }
    sqlite3_stmt* st = pack_->st;
    sqlite3_bind_int(st, 2, static_cast<int>(u.level));
    sqlite3_bind_int64(st, 3, u.start);
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto& r = next_run(u.sign);
      r.packed = true;
      r.blob.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
      r.reader = store::PackReader(r.blob);
    }
    sqlite3_reset(st);
  }

  void open_rows(const Plan::Span& s) {
    auto& r = next_run(s.sign);
    std::map<std::string, store::Counts, std::less<>> sums;
    sqlite3_bind_int64(rows_.st, 1, s.begin);
    sqlite3_bind_int64(rows_.st, 2, s.end);
    while (sqlite3_step(rows_.st) == SQLITE_ROW) {
      ++stats_.session_rows;
      const store::SessionKeys k = store::read_session_keys(rows_.st);
      std::string_view key;
      switch (q_.mode) {
        case Mode::trend: break;
        case Mode::domain: key = k.domain; break;
        case Mode::user: key = k.user; break;
        case Mode::ip: key = k.ip; break;
        // Only the fleet report asks for it (parse_query), and it reads packs whose keys
        // are sensor names (fleet/fleet_report.cpp); rows would carry them as domains.
        case Mode::sensor: key = k.domain; break;
      }
      if (q_.mode != Mode::trend && key.empty()) continue;
      const auto& c = k.counts;
      auto it = sums.find(key);
      if (it == sums.end()) it = sums.emplace(std::string(key), store::Counts{}).first;
      for (std::size_t i = 0; i < c.size(); ++i) it->second[i] += c[i];
    }
    sqlite3_reset(rows_.st);
    r.rows.assign(std::make_move_iterator(sums.begin()), std::make_move_iterator(sums.end()));
  }

  // Moves a run to its next entry of the query's domain; false (and at = kDone) at its end.
  bool advance(Run& r) {
    if (r.at == kDone) return false;
    if (r.packed) {
      store::PackEntry e;
      while (r.reader.next(e)) {
        ++stats_.rollup_rows;
        // In sensor mode the keys are sensors, and the fleet applied --domain already.
        if (q_.domain && q_.mode != Mode::sensor &&
            (src_.kind == store::PackKind::domain ? e.key : e.domain) != *q_.domain)
          continue;
        r.key = q_.mode == Mode::trend ? std::string_view{} : e.key;
        r.counts = e.counts;
        return true;
      }
      if (r.reader.corrupt()) throw std::runtime_error("store query failed: a packed roll-up is damaged");
    } else if (r.at < r.rows.size()) {
      r.key = r.rows[r.at].first;
      r.counts = r.rows[r.at].second;
      ++r.at;
      return true;
    }
    r.at = kDone;
    return false;
  }

  const Query& q_;
  const Source& src_;
  ReportStats& stats_;
  const PackSource* source_;  // else the store's rollup_pack
  Statement trend_;
  Statement rows_;
  std::unique_ptr<Statement> pack_;
  std::deque<Run> runs_;  // a deque: the heap holds pointers into it
  std::size_t used_ = 0;  // runs_ in use for the current period
  std::vector<Run*> heap_;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

sqlite3* open_report_store(const std::string& path) {
  std::error_code ec;
  if (path.empty()) throw StoreUnavailable("no session store configured: give --store PATH or -c FILE");
  if (!std::filesystem::exists(path, ec))
    throw StoreUnavailable("session store " + path + " does not exist (is store.enabled on, and has the daemon run?)");
  sqlite3* db = nullptr;
  try {
    db = store::open_store(path, /*read_only=*/true);
  } catch (const std::exception& e) {
    throw StoreUnavailable(e.what());
  }
  if (store::schema_version(db) == 0) {
    sqlite3_close(db);
    throw StoreUnavailable(path + " is not an smtp-sensor session store");
  }
  return db;
}

void scan_report(sqlite3* db, const Query& q, const std::vector<Period>& periods, const RowSink& sink,
                 ReportStats* stats_out, const PackSource* packs) {
  ReportStats stats;
  const int schema = store::schema_version(db);
  const Source src = report_source(q, schema);
  // One read transaction: the writer commits rows, trend roll-ups and pack deletions
  // together, so all are read from the same snapshot.
  store::exec(db, "BEGIN");
  try {
    std::set<std::pair<Level, std::int64_t>> packed;
    if (src.packs) {
      Statement st(db, "SELECT level, start FROM rollup_packed");
      while (sqlite3_step(st.st) == SQLITE_ROW)
        packed.insert({static_cast<Level>(sqlite3_column_int(st.st, 0)), sqlite3_column_int64(st.st, 1)});
    }
    Plan plan(src.chain, [&](Level level, std::int64_t start) { return !src.packs || packed.count({level, start}) > 0; });
    for (std::uint32_t p = 0; p < periods.size(); ++p) plan.add(periods[p].begin_ms, periods[p].end_ms, {p, 1});
    const auto reads = plan.per_period(periods.size());
    Scanner scanner(db, q, src, store::has_v7_columns(db), stats, packs);
    const bool reverse = q.sort == Column::period && q.descending;
    for (std::uint32_t i = 0; i < periods.size(); ++i) {
      const std::uint32_t p = reverse ? static_cast<std::uint32_t>(periods.size()) - 1 - i : i;
      if (!scanner.period(p, reads[p], sink)) break;
    }
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  store::exec(db, "COMMIT");
  if (stats_out) *stats_out = stats;
}

Report run_report(sqlite3* db, const Query& q, ReportStats* stats, const PackSource* packs) {
  Report report{q, make_periods(q), {}, {}};
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> ids;
  auto intern = [&](std::string_view key) {
    auto it = ids.find(key);
    if (it == ids.end()) {
      it = ids.emplace(std::string(key), static_cast<std::uint32_t>(report.keys.size())).first;
      report.keys.emplace_back(key);
    }
    return it->second;
  };
  if (!q.top || q.sort == Column::period) {
    scan_report(db, q, report.periods, [&](std::uint32_t p, std::string_view key, const Counters& c) {
      report.rows.push_back({p, intern(key), c});
      return true;
    }, stats, packs);
    sort_rows(report);
    return report;
  }
  // --top N of a sort: keep the best rows seen, pruned to N whenever 2N have gathered;
  // a row no better than the N-th kept is passed over before its key is even stored.
  constexpr std::uint32_t kPending = static_cast<std::uint32_t>(-1);
  const std::size_t n = *q.top;
  std::string_view pending;  // the key of the row being offered
  auto text = [&](std::uint32_t id) -> std::string_view { return id == kPending ? pending : report.keys[id]; };
  auto key_cmp = [&](const Row& a, const Row& b) { return text(a.key).compare(text(b.key)); };
  auto cmp = [&](const Row& a, const Row& b) { return before(q, a, b, key_cmp); };
  auto& rows = report.rows;
  std::optional<Row> worst;
  auto prune = [&] {
    std::nth_element(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n - 1), rows.end(), cmp);
    rows.resize(n);
    worst = rows[n - 1];
  };
  scan_report(db, q, report.periods, [&](std::uint32_t p, std::string_view key, const Counters& c) {
    pending = key;
    Row row{p, kPending, c};
    if (worst && !cmp(row, *worst)) return true;
    row.key = intern(key);
    rows.push_back(row);
    if (rows.size() >= 2 * n) prune();
    return true;
  }, stats, packs);
  std::sort(rows.begin(), rows.end(), cmp);
  if (rows.size() > n) rows.resize(n);
  return report;
}

Report run_report(const std::string& store_path, const Query& q, ReportStats* stats) {
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(open_report_store(store_path), &sqlite3_close);
  return run_report(db.get(), q, stats);
}

}  // namespace smtp::report
