#include "report/format.hpp"

#include "text/json.hpp"

#include <fmt/format.h>

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <cmath>
#include <memory>

namespace smtp::report {
namespace {

std::string date_text(const date::year_month_day& d) {
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                     static_cast<unsigned>(d.day()));
}

std::int64_t value(const Counters& c, std::size_t i) {
  const std::int64_t v[] = {c.new_connections, c.blocked_connections, c.bad_commands,
                            c.terminations,    c.bandwidth_bytes,     c.messages};
  return v[i];
}

// Whether a spreadsheet would read a cell starting so as a formula (OWASP, CSV injection).
bool formula_start(std::string_view s) {
  if (s.empty()) return false;
  const char c = s.front();
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

bool needs_quotes(std::string_view s) {
  // One pass over the bytes: find_first_of would search the set once per byte.
  return std::any_of(s.begin(), s.end(), [](char c) { return c == ',' || c == '"' || c == '\r' || c == '\n'; });
}

// A CSV cell; unless raw, a formula-like start gets a leading ' so it opens as text.
void csv_field(std::string& out, std::string_view s, bool raw) {
  const bool neutralise = !raw && formula_start(s);
  if (!needs_quotes(s)) {
    if (neutralise) out += '\'';
    out += s;
    return;
  }
  out += '"';
  if (neutralise) out += '\'';
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string human_bytes(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) v /= 1024, ++u;
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string csv_filename(const Query& q) {
  return fmt::format("smtp-sensor-report-{}{}-{}-{}-{}.csv", q.fleet ? "fleet-" : "", date_text(q.from),
                     date_text(q.to), to_string(q.step), to_string(q.mode));
}

namespace {

// The header line, after a UTF-8 BOM when the query asks for one.
void csv_header(std::string& out, const Query& q) {
  if (q.bom) out += "\xef\xbb\xbf";
  const auto names = column_names(q.mode);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
  }
  out += "\r\n";
}

void number(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// connections_per_message with 2 decimals, as CSV and the table show it: the exact
// quotient rounded half up in integers (a double printed with "{:.2f}" costs more than
// the rest of a row, and rounds 0.125 down).
char* put_ratio(char* p, char* end, const Counters& c) {
  const std::int64_t hundredths = (200 * c.new_connections + c.messages) / (2 * c.messages);
  p = std::to_chars(p, end, hundredths / 100).ptr;
  *p++ = '.';
  *p++ = static_cast<char>('0' + hundredths % 100 / 10);
  *p++ = static_cast<char>('0' + hundredths % 10);
  return p;
}

void ratio(std::string& out, const Counters& c) {
  char buf[32];
  out.append(buf, static_cast<std::size_t>(put_ratio(buf, buf + sizeof buf, c) - buf));
}

// label_field is the period's label as a CSV field, comma included: the same for
// every row of a period, so it is escaped once. A row is built in a buffer of its own
// and appended once: per-field appends cost more than the digits.
void csv_row(std::string& out, std::string_view label_field, bool keyed, std::string_view key, const Counters& c, bool raw) {
  char buf[640];
  char* p = buf;
  const bool plain = label_field.size() + key.size() < 400 && (raw || !formula_start(key)) && !needs_quotes(key);
  if (plain) {
    std::memcpy(p, label_field.data(), label_field.size());
    p += label_field.size();
    if (keyed) {
      std::memcpy(p, key.data(), key.size());
      p += key.size();
      *p++ = ',';
    }
  } else {
    out += label_field;
    if (keyed) {
      csv_field(out, key, raw);
      out += ',';
    }
  }
  for (std::size_t i = 0; i < 6; ++i) {
    p = std::to_chars(p, buf + sizeof buf, value(c, i)).ptr;
    *p++ = ',';
  }
  if (c.messages != 0) p = put_ratio(p, buf + sizeof buf, c);
  *p++ = '\r';
  *p++ = '\n';
  out.append(buf, static_cast<std::size_t>(p - buf));
}

std::string csv_label(std::string_view label, bool raw) {
  std::string field;
  csv_field(field, label, raw);
  field += ',';
  return field;
}

void json_head(std::string& out, const Query& q) {
  out += "{\"from\":\"" + date_text(q.from) + "\",\"to\":\"" + date_text(q.to) + "\",\"step\":\"" +
         std::string(to_string(q.step)) + "\",\"mode\":\"" + std::string(to_string(q.mode)) + "\",\"tz\":";
  text::append_json_string(out, q.zone);
  out += ",\"domain\":";
  if (q.domain) text::append_json_string(out, *q.domain);
  else out += "null";
  out += ",\"direction\":\"" + std::string(to_string(q.direction)) + "\",\"listener\":";
  if (q.listener) text::append_json_string(out, *q.listener);
  else out += "null";
  out += ",\"sort\":";
  text::append_json_string(out, to_string(q.sort, q.mode));
  out += q.descending ? ",\"order\":\"desc\"" : ",\"order\":\"asc\"";
  if (q.top) fmt::format_to(std::back_inserter(out), ",\"top\":{}", *q.top);
  if (q.fleet) {
    // SPEC 10: whose sessions these are; [] is every sensor of the fleet.
    out += ",\"fleet\":true,\"sensors\":[";
    for (std::size_t i = 0; i < q.sensors.size(); ++i) {
      if (i) out += ',';
      text::append_json_string(out, q.sensors[i]);
    }
    out += ']';
  }
  out += ",\"columns\":[";
  const auto names = column_names(q.mode);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    text::append_json_string(out, names[i]);
  }
  out += "],\"rows\":[";
}

void json_row(std::string& out, bool first, bool keyed, std::string_view label, std::string_view key, const Counters& c) {
  out += first ? "\n[" : ",\n[";
  text::append_json_string(out, label);
  if (keyed) {
    out += ',';
    text::append_json_string(out, key);
  }
  for (std::size_t i = 0; i < 6; ++i) {
    out += ',';
    number(out, value(c, i));
  }
  if (c.messages != 0) {
    const double v = static_cast<double>(c.new_connections) / static_cast<double>(c.messages);
    fmt::format_to(std::back_inserter(out), ",{}]", std::round(v * 100) / 100);
  } else {
    out += ",null]";
  }
}

constexpr const char* kJsonTail = "]}\n";

}  // namespace

std::string render_csv(const Report& r) {
  const bool keyed = r.query.mode != Mode::trend;
  std::string out;
  out.reserve(64 * (r.rows.size() + 1));
  csv_header(out, r.query);
  std::vector<std::string> labels;
  labels.reserve(r.periods.size());
  for (const auto& period : r.periods) labels.push_back(csv_label(period.label, r.query.csv_raw));
  for (const auto& row : r.rows) csv_row(out, labels[row.period], keyed, r.key(row), row.counters, r.query.csv_raw);
  return out;
}

std::string render_json(const Report& r) {
  const bool keyed = r.query.mode != Mode::trend;
  std::string out;
  json_head(out, r.query);
  for (std::size_t n = 0; n < r.rows.size(); ++n) json_row(out, n == 0, keyed, r.label(r.rows[n]), r.key(r.rows[n]), r.rows[n].counters);
  out += kJsonTail;
  return out;
}

std::string render_table(const Report& r) {
  const auto names = column_names(r.query.mode);
  const bool keyed = r.query.mode != Mode::trend;
  const std::size_t text_columns = keyed ? 2 : 1;  // period and key left-aligned, numbers right
  // Two passes over the rows, measuring then writing, so that a report of millions of
  // rows does not become millions of cell strings.
  std::string cell;
  auto cells = [&](const Row& row, auto&& each) {
    std::size_t i = 0;
    each(i++, std::string_view(r.label(row)));
    if (keyed) each(i++, std::string_view(r.key(row)));
    for (std::size_t k = 0; k < 6; ++k) {
      cell.clear();
      if (k == 4) cell = human_bytes(row.counters.bandwidth_bytes);
      else number(cell, value(row.counters, k));
      each(i++, std::string_view(cell));
    }
    cell.clear();
    if (row.counters.messages == 0) cell = "-";
    else ratio(cell, row.counters);
    each(i++, std::string_view(cell));
  };
  std::vector<std::size_t> width(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) width[i] = names[i].size();
  for (const auto& row : r.rows) cells(row, [&](std::size_t i, std::string_view v) { width[i] = std::max(width[i], v.size()); });
  std::string out, line;
  auto put = [&](std::size_t i, std::string_view v) {
    if (i) line += "  ";
    if (i < text_columns) {
      line += v;
      line.append(width[i] - v.size(), ' ');
    } else {
      line.append(width[i] - v.size(), ' ');
      line += v;
    }
  };
  auto end_line = [&] {
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
    line.clear();
  };
  for (std::size_t i = 0; i < names.size(); ++i) put(i, names[i]);
  end_line();
  for (const auto& row : r.rows) {
    cells(row, put);
    end_line();
  }
  if (r.rows.empty()) out += "(no sessions in this range)\n";
  return out;
}

void write_report(sqlite3* db, const Query& q, const std::function<void(std::string_view)>& write, const PackSource* packs) {
  // Rows come out of the scan in period then key order: CSV and JSON in that order (or
  // by period descending) stream as they come, in chunks, and never sit in memory. Any
  // other order, --top with a sort, and the table (which measures its columns first)
  // need the whole report.
  const bool streams = q.format != Format::table && q.sort == Column::period;
  if (!streams) return write(render(run_report(db, q, nullptr, packs), q.format));
  constexpr std::size_t kChunk = 1 << 20;
  const auto periods = make_periods(q);
  const bool keyed = q.mode != Mode::trend;
  std::string out;
  out.reserve(kChunk + 4096);
  if (q.format == Format::csv) csv_header(out, q);
  else json_head(out, q);
  std::size_t n = 0;  // rows so far
  std::string label;  // the CSV field of label_period's label
  std::uint32_t label_period = static_cast<std::uint32_t>(-1);
  scan_report(db, q, periods, [&](std::uint32_t p, std::string_view key, const Counters& c) {
    if (q.format == Format::csv) {
      if (p != label_period) label = csv_label(periods[p].label, q.csv_raw), label_period = p;
      csv_row(out, label, keyed, key, c, q.csv_raw);
    } else {
      json_row(out, n == 0, keyed, periods[p].label, key, c);
    }
    if (out.size() >= kChunk) {
      write(out);
      out.clear();
    }
    ++n;
    return !q.top || n < *q.top;
  }, nullptr, packs);
  if (q.format == Format::json) out += kJsonTail;
  write(out);
}

void write_report(const std::string& store_path, const Query& q, const std::function<void(std::string_view)>& write) {
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(open_report_store(store_path), &sqlite3_close);
  write_report(db.get(), q, write);
}

std::string render(const Report& r, Format f) {
  switch (f) {
    case Format::table: return render_table(r);
    case Format::csv: return render_csv(r);
    case Format::json: return render_json(r);
  }
  return {};
}

}  // namespace smtp::report
