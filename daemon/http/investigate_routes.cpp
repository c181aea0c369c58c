#include "daemon/http/investigate_routes.hpp"

#include "daemon/http/time_param.hpp"
#include "daemon/http/transcript_reader.hpp"
#include "report/zone.hpp"
#include "store/history.hpp"
#include "store/schema.hpp"
#include "text/json.hpp"
#include "text/url_query.hpp"

#include <date/date.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace smtp::daemon {
namespace {

struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// name=value pairs; an unknown name or a repeated one is a 400, so a typo never widens a query.
std::map<std::string, std::string> parse_params(std::string_view query, std::initializer_list<std::string_view> known) {
  std::map<std::string, std::string> out;
  auto params = text::parse_query_string(query);
  if (!params) throw BadRequest("bad %-escape in the query string");
  for (auto& [name, value] : *params) {
    bool ok = false;
    for (auto k : known) ok = ok || k == name;
    if (!ok) throw BadRequest("unknown parameter '" + name.substr(0, 40) + "'");
    if (out.contains(name)) throw BadRequest("parameter '" + name + "' given twice");
    // `ips` lists a page of the top-IPs step: up to kAuthFailuresMaxIps addresses.
    const std::size_t max = name == "ips" ? 4096 : 256;
    if (value.size() > max) throw BadRequest("parameter '" + name + "' is longer than " + std::to_string(max) + " bytes");
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

std::uint64_t parse_number(const std::string& name, const std::string& v, std::uint64_t max) {
  std::uint64_t n = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc::result_out_of_range) throw BadRequest(name + " is at most " + std::to_string(max));
  if (v.empty() || ec != std::errc{} || p != v.data() + v.size())
    throw BadRequest(name + " must be a whole number, not '" + v.substr(0, 40) + "'");
  if (n > max) throw BadRequest(name + " is at most " + std::to_string(max));
  return n;
}

std::size_t parse_limit(const std::map<std::string, std::string>& p, std::size_t def, std::size_t max) {
  const auto it = p.find("limit");
  if (it == p.end() || it->second.empty()) return def;
  const auto n = parse_number("limit", it->second, max);
  if (n == 0) throw BadRequest("limit is at least 1");
  return n;
}

// from=, to=, since=: see time_param.hpp.
std::int64_t parse_time(const std::string& name, const std::string& v, const date::time_zone* zone, bool end) {
  if (const auto ms = parse_time_param(v, *zone, end)) return *ms;
  throw BadRequest(name + " must be Unix milliseconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.mmm]][Z|+HH:MM], not '" +
                   v.substr(0, 40) + "'");
}

// ip=: one address, IPv4 or IPv6 (anything else is a 400, as a bad from= is), compared as
// the store writes it: lower case, the shortest IPv6 form, an IPv4-mapped address as IPv4.
// So 2001:DB8:0::1 finds 2001:db8::1 and ::ffff:192.0.2.1 finds 192.0.2.1.
std::string parse_ip(const std::string& v) {
  boost::system::error_code ec;
  const auto a = asio::ip::make_address(v, ec);
  if (ec) throw BadRequest("ip must be an IPv4 or IPv6 address, not '" + v.substr(0, 60) + "'");
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

const date::time_zone* zone_of(const std::map<std::string, std::string>& p) {
  const auto it = p.find("tz");
  const auto name = it == p.end() || it->second.empty() ? report::local_zone_name() : it->second;
  const auto* zone = report::find_zone(name);
  if (!zone) throw BadRequest("unknown time zone '" + name.substr(0, 60) + "'");
  return zone;
}

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close(db); }
};

void open_read_only(Db& d, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::invalid_argument("the session store " + path + " does not exist yet");
  d.db = store::open_store(path, true);
}

std::string iso_ms(std::int64_t ms) {
  // system_clock counts nanoseconds and ends in 2262: later times are shown as 2200.
  ms = std::clamp<std::int64_t>(ms, 0, 7'258'118'400'000);
  return text::iso8601_utc(std::chrono::system_clock::time_point{std::chrono::milliseconds{ms}});
}

void append_row(std::string& out, const store::SessionRecord& r) {
  using text::append_json_string;
  out += "{\"lcid\":" + std::to_string(r.lcid) + ",\"start\":";
  append_json_string(out, iso_ms(r.start_ms));
  out += ",\"end\":";
  append_json_string(out, iso_ms(r.end_ms));
  out += ",\"start_ms\":" + std::to_string(r.start_ms) + ",\"end_ms\":" + std::to_string(r.end_ms);
  for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"listener", &r.listener},
                             {"client_ip", &r.client_ip},
                             {"upstream", &r.upstream},
                             {"helo", &r.helo},
                             {"auth_user", &r.auth_user},
                             {"auth_result", &r.auth_result},
                             {"domain", &r.domain},
                             {"termination", &r.termination},
                             {"tls_version", &r.tls_version}}) {
    out += ",\"";
    out += k;
    out += "\":";
    append_json_string(out, *v);
  }
  out += ",\"client_port\":" + std::to_string(r.client_port) + ",\"tls\":" + (r.tls ? "true" : "false") +
         ",\"messages\":" + std::to_string(r.messages) + ",\"recipients\":" + std::to_string(r.recipients) +
         ",\"commands\":" + std::to_string(r.commands) + ",\"bad_commands\":" + std::to_string(r.bad_commands) +
         ",\"blocked\":" + (r.blocked ? "true" : "false") + ",\"bytes_in\":" + std::to_string(r.bytes_in) +
         ",\"bytes_out\":" + std::to_string(r.bytes_out) + ",\"transcript\":" + (r.transcript_file ? "true" : "false") +
         ",\"direction\":" + (r.outbound ? "\"out\"" : "\"in\"") + ",\"user\":";
  append_json_string(out, r.user);
  out += '}';
}

std::string param(const std::map<std::string, std::string>& p, const char* k) {
  const auto it = p.find(k);
  return it == p.end() ? std::string() : it->second;
}

// from=, to= and tz= as history and auth_failures read them; the range stays whole when absent.
void read_range(const std::map<std::string, std::string>& p, std::int64_t& from_ms, std::int64_t& to_ms) {
  if (p.contains("from") || p.contains("to")) {
    const auto* zone = zone_of(p);
    if (!param(p, "from").empty()) from_ms = parse_time("from", param(p, "from"), zone, false);
    if (!param(p, "to").empty()) to_ms = parse_time("to", param(p, "to"), zone, true);
    if (from_ms >= to_ms) throw BadRequest("from must be before to");
  } else if (p.contains("tz")) {
    zone_of(p);
  }
}

// A store query's answer, or the error it ended with: a bad parameter is a 400, a store
// that is missing or too slow a 503.
template <class Answer>
HttpResponse store_answer(Answer&& answer) {
  try {
    return answer();
  } catch (const BadRequest& e) {
    return json_error(400, e.what());
  } catch (const std::invalid_argument& e) {
    return json_error(503, e.what());
  } catch (const store::HistoryTimeout& e) {
    return json_error(503, e.what());
  } catch (const std::exception& e) {
    return json_error(500, e.what());
  }
}

}  // namespace

HttpResponse history_response(const std::string& store_path, const std::string& query) {
  return store_answer([&]() -> HttpResponse {
    const auto p = parse_params(query, {"ip", "user", "domain", "listener", "from", "to", "tz", "limit"});
    store::HistoryQuery q;
    const auto get = [&](const char* k) { return param(p, k); };
    if (!get("ip").empty()) q.ip = parse_ip(get("ip"));  // empty: any address
    q.user = get("user");
    q.domain = get("domain");
    if (p.contains("listener") && !get("listener").empty()) q.listener = get("listener");
    q.limit = parse_limit(p, kHistoryDefaultLimit, kHistoryMaxLimit);
    read_range(p, q.from_ms, q.to_ms);
    if (store_path.empty()) return json_error(503, "no session store configured (store.enabled is false)");
    Db d;
    open_read_only(d, store_path);
    const auto rows = store::query_history(d.db, q);
    std::string out = "[";
    for (const auto& r : rows) {
      if (out.size() > 1) out += ",\n";
      append_row(out, r);
    }
    return {200, "application/json", out + "]\n"};
  });
}

HttpResponse auth_failures_response(const std::string& store_path, const std::string& query) {
  return store_answer([&]() -> HttpResponse {
    const auto p = parse_params(query, {"ips", "listener", "from", "to", "tz"});
    std::vector<std::string> ips;
    const auto list = param(p, "ips");
    for (std::string_view rest = list; !rest.empty();) {
      const auto comma = rest.find(',');
      const auto ip = rest.substr(0, comma);
      boost::system::error_code ec;
      asio::ip::make_address(ip, ec);
      if (ec) throw BadRequest("ips: not an IP address: '" + std::string(ip.substr(0, 60)) + "'");
      ips.emplace_back(ip);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    if (ips.empty()) throw BadRequest("ips is required: /sessions/auth_failures?ips=IP,IP,...");
    if (ips.size() > kAuthFailuresMaxIps) throw BadRequest("ips lists at most " + std::to_string(kAuthFailuresMaxIps) + " addresses");
    std::int64_t from_ms = 0, to_ms = INT64_MAX;
    read_range(p, from_ms, to_ms);
    std::optional<std::string> listener;
    if (!param(p, "listener").empty()) listener = param(p, "listener");
    if (store_path.empty()) return json_error(503, "no session store configured (store.enabled is false)");
    Db d;
    open_read_only(d, store_path);
    const auto counts = store::auth_failures_by_ip(d.db, ips, from_ms, to_ms, listener);
    std::string out = "{";
    for (std::size_t i = 0; i < ips.size() && i < counts.size(); ++i) {
      if (i) out += ",";
      text::append_json_string(out, ips[i]);
      out += ":" + std::to_string(counts[i]);
    }
    return {200, "application/json", out + "}\n"};
  });
}

HttpResponse transcript_response(const std::string& store_path, const std::vector<std::string>& files,
                                 const std::string& query) {
  try {
    const auto p = parse_params(query, {"lcid"});
    const auto it = p.find("lcid");
    if (it == p.end() || it->second.empty()) throw BadRequest("lcid is required: /transcript?lcid=N");
    const auto lcid = parse_number("lcid", it->second, INT64_MAX);  // the store keeps it as a signed 64-bit integer
    if (files.empty()) return json_error(503, "transcripts are off (transcripts.enabled is false)");
    std::optional<store::StoredPosition> at;
    if (!store_path.empty()) {
      struct stat st {};
      if (::stat(store_path.c_str(), &st) == 0) {
        Db d;
        d.db = store::open_store(store_path, true);
        at = store::transcript_position(d.db, lcid);
      }
    }
    if (at && at->file == 0)
      return json_error(404, "session " + std::to_string(lcid) +
                            " is stored without a transcript position (written before schema v5, or with transcripts off)");
    // Not stored (yet): an open session, or a store that is off. Its lines are recent,
    // so the tail of the current file is searched.
    const auto scan = at ? scan_transcript(files, lcid, at->file, at->offset) : scan_transcript(files, lcid, 0, 0);
    using Outcome = TranscriptScan::Outcome;
    if (scan.outcome == Outcome::file_gone)
      return json_error(410, "the transcript file that held session " + std::to_string(lcid) +
                            " is gone (rotated out past transcripts.max_files, or deleted)");
    if (scan.outcome == Outcome::no_lines)
      return json_error(404, "no transcript lines for session " + std::to_string(lcid) +
                            (at ? " where the store says they start (dropped under load, or the file was replaced)"
                                : " (not in the store, and not in the recent part of the current file)"));
    std::string body = scan.text;
    std::vector<std::pair<std::string, std::string>> headers{{"X-Content-Type-Options", "nosniff"}};
    if (!scan.stopped.empty()) headers.emplace_back("X-Transcript-Truncated", scan.stopped);
    headers.emplace_back("X-Transcript-Complete", scan.complete ? "1" : "0");
    return {200, "text/plain; charset=utf-8", std::move(body), std::move(headers)};
  } catch (const BadRequest& e) {
    return json_error(400, e.what());
  } catch (const std::exception& e) {
    return json_error(500, e.what());
  }
}

HttpResponse alerts_response(const std::string& alerts_path, const std::string& query) {
  try {
    const auto p = parse_params(query, {"since", "limit"});
    const auto limit = parse_limit(p, kAlertsDefaultLimit, kAlertsMaxLimit);
    std::string since;  // ISO 8601 UTC, compared as text with each alert's "ts"
    if (const auto it = p.find("since"); it != p.end() && !it->second.empty()) {
      const auto* utc = report::find_zone("UTC");
      since = iso_ms(parse_time("since", it->second, utc, false));
    }
    const int fd = ::open(alerts_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {200, "application/json", "[]\n"};  // no alert yet
    struct stat st {};
    ::fstat(fd, &st);
    // Back from the end in blocks, newest line first, until limit lines, an alert older
    // than since, or kAlertsMaxTail bytes.
    std::string out = "[";
    std::size_t count = 0;
    std::string tail;  // the part of a line whose start is in a block not read yet
    auto pos = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t stop_at = pos > kAlertsMaxTail ? pos - kAlertsMaxTail : 0;
    bool done = false;
    constexpr std::size_t kBlock = 64 * 1024;
    while (pos > stop_at && !done) {
      const auto n = std::min<std::uint64_t>(kBlock, pos - stop_at);
      std::string block(n, '\0');
      pos -= n;
      if (::pread(fd, block.data(), n, static_cast<off_t>(pos)) != static_cast<ssize_t>(n)) break;
      block += tail;
      std::size_t end = block.size();
      for (;;) {
        const auto nl = end == 0 ? std::string::npos : block.rfind('\n', end - 1);
        if (nl == std::string::npos && pos > stop_at) break;  // the line starts in an earlier block
        const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
        std::string_view line(block.data() + begin, end - begin);
        if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
        if (!line.empty() && line.front() == '{' && line.back() == '}') {
          constexpr std::string_view kTs = "{\"ts\":\"";
          if (!since.empty() && line.starts_with(kTs) && line.substr(kTs.size(), since.size()) < since) {
            done = true;
            break;
          }
          if (count > 0) out += ",\n";
          out += line;
          if (++count >= limit) {
            done = true;
            break;
          }
        }
        if (nl == std::string::npos) {
          end = 0;
          break;
        }
        end = nl;
      }
      tail = block.substr(0, end);
    }
    ::close(fd);
    return {200, "application/json", out + "]\n"};
  } catch (const BadRequest& e) {
    return json_error(400, e.what());
  } catch (const std::exception& e) {
    return json_error(500, e.what());
  }
}

void add_investigate_routes(HttpServer& http, asio::thread_pool& pool, InvestigateSources sources) {
  auto src = std::make_shared<const InvestigateSources>(std::move(sources));
  http.route_async("/sessions/history", [src, &pool](const std::string& query, HttpReply reply) {
    asio::post(pool, [query, store = src->store_path(), reply = std::move(reply)] { reply(history_response(store, query)); });
  });
  http.route_async("/sessions/auth_failures", [src, &pool](const std::string& query, HttpReply reply) {
    asio::post(pool, [query, store = src->store_path(), reply = std::move(reply)] { reply(auth_failures_response(store, query)); });
  });
  http.route_async("/transcript", [src, &pool](const std::string& query, HttpReply reply) {
    asio::post(pool, [query, store = src->store_path(), files = src->transcript_files(), reply = std::move(reply)] {
      reply(transcript_response(store, files, query));
    });
  });
  http.route_async("/alerts", [src, &pool](const std::string& query, HttpReply reply) {
    asio::post(pool, [query, path = src->alerts_path(), reply = std::move(reply)] { reply(alerts_response(path, query)); });
  });
}

}  // namespace smtp::daemon
