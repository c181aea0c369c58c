#include "report/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

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

// Whether the text is well-formed UTF-8 (no overlong forms, surrogates or values past
// U+10FFFF), so that JSON may carry it as it is.
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the first continuation byte
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) n = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return false;
    if (s.size() - i - 1 < n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b >> 6) != 2) return false;
    }
    i += n + 1;
  }
  return true;
}

void json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  // Keys come from peers: text that is not UTF-8 is shown byte by byte (Latin-1), so
  // the document always parses.
  const bool utf8 = valid_utf8(s);
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

void csv_field(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += s;
    return;
  }
  out += '"';
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
  return fmt::format("smtp-sensor-report-{}-{}-{}-{}.csv", date_text(q.from), date_text(q.to), to_string(q.step),
                     to_string(q.mode));
}

std::string render_csv(const Report& r) {
  const bool keyed = r.query.mode != Mode::trend;
  std::string out;
  out.reserve(64 * (r.rows.size() + 1));
  const auto names = column_names(r.query.mode);
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + names[i];
  out += "\r\n";
  for (const auto& row : r.rows) {
    csv_field(out, r.periods[row.period].label);
    if (keyed) {
      out += ',';
      csv_field(out, r.key(row));
    }
    for (std::size_t i = 0; i < 6; ++i) {
      out += ',';
      out += fmt::format_int(value(row.counters, i)).c_str();
    }
    if (row.counters.messages != 0)
      fmt::format_to(std::back_inserter(out), ",{:.2f}",
                     static_cast<double>(row.counters.new_connections) / static_cast<double>(row.counters.messages));
    else out += ',';
    out += "\r\n";
  }
  return out;
}

std::string render_json(const Report& r) {
  const auto& q = r.query;
  std::string out = "{\"from\":\"" + date_text(q.from) + "\",\"to\":\"" + date_text(q.to) + "\",\"step\":\"" +
                    std::string(to_string(q.step)) + "\",\"mode\":\"" + std::string(to_string(q.mode)) + "\",\"tz\":";
  json_string(out, q.zone);
  out += ",\"domain\":";
  if (q.domain) json_string(out, *q.domain);
  else out += "null";
  out += ",\"sort\":";
  json_string(out, to_string(q.sort, q.mode));
  out += q.descending ? ",\"order\":\"desc\"" : ",\"order\":\"asc\"";
  if (q.top) fmt::format_to(std::back_inserter(out), ",\"top\":{}", *q.top);
  out += ",\"columns\":[";
  const auto names = column_names(q.mode);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    json_string(out, names[i]);
  }
  out += "],\"rows\":[";
  for (std::size_t n = 0; n < r.rows.size(); ++n) {
    const auto& row = r.rows[n];
    out += n ? ",\n[" : "\n[";
    json_string(out, r.periods[row.period].label);
    if (q.mode != Mode::trend) {
      out += ',';
      json_string(out, r.key(row));
    }
    for (std::size_t i = 0; i < 6; ++i) {
      out += ',';
      out += fmt::format_int(value(row.counters, i)).c_str();
    }
    if (row.counters.messages != 0) {
      const double ratio = static_cast<double>(row.counters.new_connections) / static_cast<double>(row.counters.messages);
      fmt::format_to(std::back_inserter(out), ",{}]", std::round(ratio * 100) / 100);
    } else {
      out += ",null]";
    }
  }
  out += "]}\n";
  return out;
}

std::string render_table(const Report& r) {
  const auto names = column_names(r.query.mode);
  const bool keyed = r.query.mode != Mode::trend;
  std::vector<std::vector<std::string>> cells;
  cells.reserve(r.rows.size() + 1);
  cells.push_back(names);
  for (const auto& row : r.rows) {
    std::vector<std::string> line{r.periods[row.period].label};
    if (keyed) line.push_back(r.key(row));
    for (std::size_t i = 0; i < 6; ++i)
      line.push_back(i == 4 ? human_bytes(row.counters.bandwidth_bytes) : std::to_string(value(row.counters, i)));
    line.push_back(row.counters.messages == 0
                       ? "-"
                       : fmt::format("{:.2f}", static_cast<double>(row.counters.new_connections) /
                                                   static_cast<double>(row.counters.messages)));
    cells.push_back(std::move(line));
  }
  std::vector<std::size_t> width(names.size());
  for (const auto& line : cells)
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  const std::size_t text_columns = keyed ? 2 : 1;  // period and key left-aligned, numbers right
  std::string out;
  for (std::size_t n = 0; n < cells.size(); ++n) {
    std::string line;
    for (std::size_t i = 0; i < cells[n].size(); ++i) {
      if (i) line += "  ";
      const auto pad = std::string(width[i] - cells[n][i].size(), ' ');
      line += i < text_columns ? cells[n][i] + pad : pad + cells[n][i];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  if (r.rows.empty()) out += "(no sessions in this range)\n";
  return out;
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
