#include "report/report.hpp"

#include "store/schema.hpp"
#include "store/time_units.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace smtp::report {
namespace {

using store::Level;

// The first schema with roll-up tables.
constexpr int kRollupSchema = 3;

struct Ref {
  std::uint32_t period;
  int sign;
};

// Which time spans feed which period, with which sign. A period [a, b) is read as the
// whole roll-up units between the unit boundaries nearest to a and b, corrected by
// the slivers between those boundaries and a and b: added when the sliver lies inside
// the period, subtracted when it lies outside. Slivers go one level finer each time,
// down to the session rows. So a local day in Berlin costs one day roll-up plus one
// hour of session rows, and a month costs one month roll-up plus its edges.
class Plan {
 public:
  explicit Plan(std::vector<Level> chain) : chain_(std::move(chain)) {}

  void add(std::int64_t a, std::int64_t b, Ref ref, std::size_t depth = 0) {
    if (a >= b) return;
    if (depth == chain_.size()) return spans_[{a, b}].push_back(ref);
    const Level level = chain_[depth];
    const std::int64_t a2 = nearest(level, a), b2 = nearest(level, b);
    if (a2 >= b2) return add(a, b, ref, depth + 1);
    for (std::int64_t u = a2; u < b2; u = store::next_unit(level, u / 1000) * 1000) units_[level][u / 1000].push_back(ref);
    const Ref neg{ref.period, -ref.sign};
    if (a < a2) add(a, a2, ref, depth + 1);
    else add(a2, a, neg, depth + 1);
    if (b2 < b) add(b2, b, ref, depth + 1);
    else add(b, b2, neg, depth + 1);
  }

  // Refs to one span that cancel (+p and -p) are dropped, and spans left empty too.
  template <class Map>
  static void settle(Map& map) {
    for (auto it = map.begin(); it != map.end();) {
      std::map<std::uint32_t, int> sum;
      for (const auto& r : it->second) sum[r.period] += r.sign;
      it->second.clear();
      for (const auto& [p, s] : sum)
        if (s != 0) it->second.push_back({p, s});
      it = it->second.empty() ? map.erase(it) : std::next(it);
    }
  }

  void settle() {
    for (auto& [level, units] : units_) settle(units);
    settle(spans_);
  }

  std::map<Level, std::map<std::int64_t, std::vector<Ref>>> units_;  // unit start (s) -> refs
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<Ref>> spans_;  // [ms, ms) of session rows

 private:
  static std::int64_t nearest(Level level, std::int64_t ms) {
    const std::int64_t s = ms >= 0 ? ms / 1000 : -((999 - ms) / 1000);
    const std::int64_t lo = store::unit_start(level, s) * 1000;
    if (lo == ms) return lo;
    const std::int64_t hi = store::next_unit(level, lo / 1000) * 1000;
    return ms - lo <= hi - ms ? lo : hi;
  }
  std::vector<Level> chain_;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Sums per (period, key). Keys are interned; each row read is appended as it comes
// (with its sign, once per period it feeds), and finish() sorts and merges the
// duplicates. That beats a hash map per (period, key) several times over: the work is
// sequential, and memory grows in one block instead of a node per group.
class Totals {
 public:
  Totals() { parts_.reserve(1 << 20); }  // address space only, until rows arrive

  // Roll-up rows come sorted by key within a unit, and the next unit holds mostly the
  // same keys in the same order: a cursor over the previous unit's keys finds most ids
  // by walking forward, sparing a hash lookup (a cache miss or two) per row.
  void begin_sorted_run() {
    std::swap(previous_, current_);
    current_.clear();
    cursor_ = 0;
  }

  void add(const std::vector<Ref>& refs, std::string_view key, const std::int64_t (&c)[6], bool sorted = false) {
    std::uint32_t id;
    while (sorted && cursor_ < previous_.size() && names_[previous_[cursor_]] < key) ++cursor_;
    if (sorted && cursor_ < previous_.size() && names_[previous_[cursor_]] == key) {
      id = previous_[cursor_++];
    } else {
      auto it = ids_.find(key);
      if (it == ids_.end()) {
        it = ids_.emplace(std::string(key), static_cast<std::uint32_t>(names_.size())).first;
        names_.emplace_back(key);
      }
      id = it->second;
    }
    if (sorted) current_.push_back(id);
    for (const auto& r : refs)
      parts_.push_back({r.period, id, {r.sign * c[0], r.sign * c[1], r.sign * c[2], r.sign * c[3], r.sign * c[4], r.sign * c[5]}});
  }

  // Fills report.keys and report.rows: groups with sessions, in period then key order;
  // in trend mode every period, empty ones as zeros. Returns each key's rank by text.
  std::vector<std::uint32_t> finish(Report& report, bool every_period) {
    if (every_period) {
      static constexpr std::int64_t zero[6] = {};
      std::vector<Ref> all;
      for (std::uint32_t p = 0; p < report.periods.size(); ++p) all.push_back({p, 1});
      add(all, "", zero);
    }
    report.keys.assign(std::make_move_iterator(names_.begin()), std::make_move_iterator(names_.end()));
    names_.clear();
    std::vector<std::uint32_t> order(report.keys.size()), rank(report.keys.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return report.keys[a] < report.keys[b]; });
    for (std::uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
    std::sort(parts_.begin(), parts_.end(), [&](const Row& a, const Row& b) {
      return a.period != b.period ? a.period < b.period : rank[a.key] < rank[b.key];
    });
    // Merge equal (period, key) runs in place.
    std::size_t n = 0;
    for (std::size_t i = 0; i < parts_.size();) {
      Row sum = parts_[i];
      auto& t = sum.counters;
      for (++i; i < parts_.size() && parts_[i].period == sum.period && parts_[i].key == sum.key; ++i) {
        const auto& c = parts_[i].counters;
        t.new_connections += c.new_connections;
        t.blocked_connections += c.blocked_connections;
        t.bad_commands += c.bad_commands;
        t.terminations += c.terminations;
        t.bandwidth_bytes += c.bandwidth_bytes;
        t.messages += c.messages;
      }
      if (t.new_connections > 0 || every_period) parts_[n++] = sum;
    }
    parts_.resize(n);
    report.rows = std::move(parts_);
    return rank;
  }

 private:
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> ids_;
  std::deque<std::string> names_;  // a deque, so views into it stay valid as it grows
  std::vector<std::uint32_t> previous_, current_;  // key ids of the previous and current sorted run
  std::size_t cursor_ = 0;
  std::vector<Row> parts_;
};

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

std::string_view column_text(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string_view{};
}

// The roll-up table a query reads, and the levels it has for the query's step, coarsest
// first. Trend reads hourly totals, whose edges are exact in any zone offset by whole
// hours; a drill-down or a key mode reads the per-key tables, which go no finer than a
// day, because hour x user has about as many rows as there are sessions.
struct Source {
  const char* table = nullptr;
  const char* key = nullptr;  // column, or nullptr for trend
  std::vector<Level> chain;
};

Source source(const Query& q, bool rollups) {
  Source s;
  switch (q.mode) {
    case Mode::trend: s = {q.domain ? "rollup_domain" : "rollup_trend", nullptr, {}}; break;
    case Mode::domain: s = {"rollup_domain", "domain", {}}; break;
    case Mode::user: s = {"rollup_user", "user", {}}; break;
    case Mode::ip: s = {"rollup_ip", "ip", {}}; break;
  }
  // rollup_ip has no domain column: an ip drill-down reads the session rows.
  if (!rollups || (q.mode == Mode::ip && q.domain)) return s;
  if (q.mode == Mode::trend && !q.domain) {
    s.chain = {Level::hour};
    return s;
  }
  switch (q.step) {
    case Step::hour: break;
    case Step::day: s.chain = {Level::day}; break;
    case Step::week: s.chain = {Level::week, Level::day}; break;
    case Step::month:
    case Step::quarter: s.chain = {Level::month, Level::day}; break;
  }
  return s;
}

void read_rollups(sqlite3* db, const Query& q, const Source& src, const Plan& plan, Totals& totals, ReportStats& stats) {
  if (plan.units_.empty()) return;
  std::string sql = std::string("SELECT ") + (src.key ? src.key : "''") +
                    ", new_connections, blocked_connections, bad_commands, terminations, bandwidth_bytes, messages FROM " +
                    src.table + " WHERE level = ?1 AND start = ?2";
  if (q.domain) sql += " AND domain = ?3";
  Statement s(db, sql);
  if (q.domain) sqlite3_bind_text(s.st, 3, q.domain->data(), static_cast<int>(q.domain->size()), SQLITE_STATIC);
  std::int64_t c[6];
  for (const auto& [level, units] : plan.units_) {
    sqlite3_bind_int(s.st, 1, static_cast<int>(level));
    for (const auto& [start, refs] : units) {
      sqlite3_bind_int64(s.st, 2, start);
      totals.begin_sorted_run();
      while (sqlite3_step(s.st) == SQLITE_ROW) {
        for (int i = 0; i < 6; ++i) c[i] = sqlite3_column_int64(s.st, i + 1);
        // Without a key column (trend) every row has the key "": sorted all the same.
        totals.add(refs, column_text(s.st, 0), c, /*sorted=*/true);
        ++stats.rollup_rows;
      }
      sqlite3_reset(s.st);
    }
  }
}

void read_sessions(sqlite3* db, const Query& q, const Plan& plan, Totals& totals, ReportStats& stats) {
  std::string sql =
      "SELECT domain, auth_user, auth_result, client_ip, blocked, bad_commands, termination, permanent_failures, "
      "bytes_in + bytes_out, messages FROM sessions WHERE start_ms >= ?1 AND start_ms < ?2";
  if (q.domain) sql += " AND domain = ?3";
  Statement s(db, sql);
  if (q.domain) sqlite3_bind_text(s.st, 3, q.domain->data(), static_cast<int>(q.domain->size()), SQLITE_STATIC);
  std::int64_t c[6];
  for (const auto& [span, refs] : plan.spans_) {
    sqlite3_bind_int64(s.st, 1, span.first);
    sqlite3_bind_int64(s.st, 2, span.second);
    while (sqlite3_step(s.st) == SQLITE_ROW) {
      ++stats.session_rows;
      std::string_view key;
      switch (q.mode) {
        case Mode::trend: break;
        case Mode::domain: key = column_text(s.st, 0); break;
        case Mode::user:
          if (column_text(s.st, 2) != "success") continue;
          key = column_text(s.st, 1);
          break;
        case Mode::ip: key = column_text(s.st, 3); break;
      }
      if (q.mode != Mode::trend && key.empty()) continue;
      c[0] = 1;
      c[1] = sqlite3_column_int64(s.st, 4) != 0;
      c[2] = sqlite3_column_int64(s.st, 5);
      c[3] = (column_text(s.st, 6) != "quit") + sqlite3_column_int64(s.st, 7);
      c[4] = sqlite3_column_int64(s.st, 8);
      c[5] = sqlite3_column_int64(s.st, 9);
      totals.add(refs, key, c);
    }
    sqlite3_reset(s.st);
  }
}

double per_message(const Counters& c) {
  return c.messages == 0 ? -1.0 : static_cast<double>(c.new_connections) / static_cast<double>(c.messages);
}

std::int64_t counter(const Counters& c, Column col) {
  switch (col) {
    case Column::new_connections: return c.new_connections;
    case Column::blocked_connections: return c.blocked_connections;
    case Column::bad_commands: return c.bad_commands;
    case Column::terminations: return c.terminations;
    case Column::bandwidth_bytes: return c.bandwidth_bytes;
    case Column::messages: return c.messages;
    default: return 0;
  }
}

// Sorts by the query's column; ties fall back to period, then key, both ascending. Rows
// without messages have no ratio and sort last in either direction.
// Rows arrive in period then key order; keys compare by their rank in text order.
void sort_rows(Report& report, const std::vector<std::uint32_t>& rank) {
  const Query& q = report.query;
  auto& rows = report.rows;
  if (q.sort == Column::period && !q.descending) {
    if (q.top && *q.top < rows.size()) rows.resize(*q.top);
    return;
  }
  auto base = [&](const Row& a, const Row& b) {
    return a.period != b.period ? a.period < b.period : rank[a.key] < rank[b.key];
  };
  auto cmp = [&](const Row& a, const Row& b) {
    int r = 0;  // <0: a first
    switch (q.sort) {
      case Column::period: r = a.period < b.period ? -1 : a.period > b.period ? 1 : 0; break;
      case Column::key: r = rank[a.key] < rank[b.key] ? -1 : rank[a.key] > rank[b.key] ? 1 : 0; break;
      case Column::connections_per_message: {
        const double x = per_message(a.counters), y = per_message(b.counters);
        if ((x < 0) != (y < 0)) return y < 0;  // no ratio: last, whatever the order
        r = x < y ? -1 : x > y ? 1 : 0;
        break;
      }
      default: {
        const auto x = counter(a.counters, q.sort), y = counter(b.counters, q.sort);
        r = x < y ? -1 : x > y ? 1 : 0;
      }
    }
    if (r != 0) return q.descending ? r > 0 : r < 0;
    return base(a, b);
  };
  if (q.top && *q.top < rows.size()) {
    std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(*q.top), rows.end(), cmp);
    rows.resize(*q.top);
  } else {
    std::sort(rows.begin(), rows.end(), cmp);
  }
}

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

Report run_report(sqlite3* db, const Query& q, ReportStats* stats_out) {
  ReportStats stats;
  Report report{q, make_periods(q), {}, {}};
  const Source src = source(q, store::schema_version(db) >= kRollupSchema);
  Plan plan(src.chain);
  for (std::uint32_t p = 0; p < report.periods.size(); ++p) plan.add(report.periods[p].begin_ms, report.periods[p].end_ms, {p, 1});
  plan.settle();
  Totals totals;
  // One read transaction: the writer commits rows and roll-ups together, so both are
  // read from the same snapshot.
  store::exec(db, "BEGIN");
  try {
    read_rollups(db, q, src, plan, totals, stats);
    read_sessions(db, q, plan, totals, stats);
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  store::exec(db, "COMMIT");
  sort_rows(report, totals.finish(report, q.mode == Mode::trend));
  if (stats_out) *stats_out = stats;
  return report;
}

Report run_report(const std::string& store_path, const Query& q, ReportStats* stats) {
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(open_report_store(store_path), &sqlite3_close);
  return run_report(db.get(), q, stats);
}

}  // namespace smtp::report
