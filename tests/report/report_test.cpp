// Reports over a hand-made store with known numbers: every step and mode, sorting,
// --top, drill-down, CSV escaping, JSON and table output, time-zone boundaries.
#include "fixture.hpp"

#include <map>
#include <memory>

using namespace report_test;
using namespace smtp::report;

namespace {

const std::string kHeader = "period,new_connections,blocked_connections,bad_commands,terminations,bandwidth_bytes,messages,"
                            "connections_per_message\r\n";
std::string keyed_header(const std::string& key) {
  return "period," + key + ",new_connections,blocked_connections,bad_commands,terminations,bandwidth_bytes,messages,"
                           "connections_per_message\r\n";
}

// Six sessions over three UTC days (see each line); B is at 23:30 UTC, so in Berlin it
// belongs to the next day.
std::vector<Session> known_sessions() {
  return {
      // A: alice, 3 messages
      {utc(2026, 11, 23, 10), "a.example", "alice@a.example", "success", "192.0.2.1", 3, 0, "quit", 0, false, 3000, 100},
      // B: bob, aborted after a permanent failure: 2 terminations
      {utc(2026, 11, 23, 23, 30), "a.example", "bob@a.example", "success", "192.0.2.2", 1, 2, "client_abort", 1, false, 1000, 24},
      // C: blocked, no user
      {utc(2026, 11, 24, 8), "b.example", "", "", "192.0.2.1", 0, 0, "blocked", 0, true, 0, 50},
      // D: a domain and a user that need CSV quoting
      {utc(2026, 11, 24, 9), "c,\"q\".example", "o\"neil,x@c.example", "success", "2001:db8::1", 2, 0, "quit", 0, false, 500, 500},
      // E: alice's name, but the login failed: not in user mode
      {utc(2026, 11, 25, 12), "a.example", "alice@a.example", "failure", "192.0.2.3", 0, 5, "quit", 0, false, 100, 50},
      // F: no domain: only in trend and ip mode
      {utc(2026, 11, 25, 13), "", "", "", "192.0.2.1", 0, 0, "idle_timeout", 0, false, 40, 60},
  };
}

// The same answer from roll-ups and from the rows alone.
std::string both(const TestStore& s, const std::string& rows_only, const std::string& q) {
  const auto a = csv(s.path, q);
  CHECK_MESSAGE(a == csv(rows_only, q), q);
  return a;
}

}  // namespace

TEST_CASE("trend by day in UTC and in Europe/Berlin") {
  TestStore s(known_sessions());
  const auto rows = s.rows_only_copy();
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-25&tz=UTC&format=csv") ==
        kHeader +
            "2026-11-23,2,0,2,2,4124,4,0.50\r\n"
            "2026-11-24,2,1,0,1,1050,2,1.00\r\n"
            "2026-11-25,2,0,5,1,250,0,\r\n");
  // 23:30 UTC is 00:30 the next day in Berlin (UTC+1 in November).
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-25&tz=Europe/Berlin") ==
        kHeader +
            "2026-11-23,1,0,0,0,3100,3,0.33\r\n"
            "2026-11-24,3,1,2,3,2074,3,1.00\r\n"
            "2026-11-25,2,0,5,1,250,0,\r\n");
  // Trend keeps empty periods, as zeros, for a continuous axis.
  CHECK(both(s, rows, "from=2026-11-20&to=2026-11-21&tz=UTC") ==
        kHeader + "2026-11-20,0,0,0,0,0,0,\r\n2026-11-21,0,0,0,0,0,0,\r\n");
}

TEST_CASE("domain, user and ip modes leave out sessions without that key") {
  TestStore s(known_sessions());
  const auto rows = s.rows_only_copy();
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-25&tz=UTC&mode=domain") ==
        keyed_header("domain") +
            "2026-11-23,a.example,2,0,2,2,4124,4,0.50\r\n"
            "2026-11-24,b.example,1,1,0,1,50,0,\r\n"
            "2026-11-24,\"c,\"\"q\"\".example\",1,0,0,0,1000,2,0.50\r\n"
            "2026-11-25,a.example,1,0,5,0,150,0,\r\n");
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-25&tz=UTC&mode=user") ==
        keyed_header("user") +
            "2026-11-23,alice@a.example,1,0,0,0,3100,3,0.33\r\n"
            "2026-11-23,bob@a.example,1,0,2,2,1024,1,1.00\r\n"
            "2026-11-24,\"o\"\"neil,x@c.example\",1,0,0,0,1000,2,0.50\r\n");
  CHECK(both(s, rows, "from=2026-11-01&to=2026-11-30&tz=UTC&mode=ip&step=month") ==
        keyed_header("ip") +
            "2026-11,192.0.2.1,3,1,0,2,3250,3,1.00\r\n"
            "2026-11,192.0.2.2,1,0,2,2,1024,1,1.00\r\n"
            "2026-11,192.0.2.3,1,0,5,0,150,0,\r\n"
            "2026-11,2001:db8::1,1,0,0,0,1000,2,0.50\r\n");
}

TEST_CASE("every step labels its periods and sums the same sessions") {
  TestStore s(known_sessions());
  const auto rows = s.rows_only_copy();
  const auto hours = both(s, rows, "from=2026-11-23&to=2026-11-23&tz=UTC&step=hour");
  CHECK(std::count(hours.begin(), hours.end(), '\n') == 25);  // header + 24 hours
  CHECK(hours.find("2026-11-23T00:00+00:00,0,0,0,0,0,0,\r\n") != std::string::npos);
  CHECK(hours.find("2026-11-23T10:00+00:00,1,0,0,0,3100,3,0.33\r\n") != std::string::npos);
  CHECK(hours.find("2026-11-23T23:00+00:00,1,0,2,2,1024,1,1.00\r\n") != std::string::npos);
  // 2026-11-23 is the Monday of ISO week 48; a week cut by the range counts only its part.
  CHECK(both(s, rows, "from=2026-11-22&to=2026-11-24&tz=UTC&step=week") ==
        kHeader + "2026-W47,0,0,0,0,0,0,\r\n2026-W48,4,1,2,3,5174,6,0.67\r\n");
  CHECK(both(s, rows, "from=2026-11-01&to=2026-12-31&tz=UTC&step=month") ==
        kHeader + "2026-11,6,1,7,4,5424,6,1.00\r\n2026-12,0,0,0,0,0,0,\r\n");
  CHECK(both(s, rows, "from=2026-10-01&to=2026-12-31&tz=UTC&step=quarter") == kHeader + "2026-Q4,6,1,7,4,5424,6,1.00\r\n");
  CHECK(both(s, rows, "from=2026-07-01&to=2026-12-31&tz=UTC&step=quarter&mode=domain") ==
        keyed_header("domain") +
            "2026-Q4,a.example,3,0,7,2,4274,4,0.75\r\n"
            "2026-Q4,b.example,1,1,0,1,50,0,\r\n"
            "2026-Q4,\"c,\"\"q\"\".example\",1,0,0,0,1000,2,0.50\r\n");
}

TEST_CASE("--domain drills into one domain") {
  TestStore s(known_sessions());
  const auto rows = s.rows_only_copy();
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-25&tz=UTC&step=week&mode=user&domain=a.example") ==
        keyed_header("user") +
            "2026-W48,alice@a.example,1,0,0,0,3100,3,0.33\r\n"
            "2026-W48,bob@a.example,1,0,2,2,1024,1,1.00\r\n");
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-25&tz=UTC&domain=a.example") ==
        kHeader +
            "2026-11-23,2,0,2,2,4124,4,0.50\r\n"
            "2026-11-24,0,0,0,0,0,0,\r\n"
            "2026-11-25,1,0,5,0,150,0,\r\n");
  // ip mode has no per-domain roll-up: its drill-down reads the rows.
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-25&tz=UTC&mode=ip&domain=a.example&step=month") ==
        keyed_header("ip") +
            "2026-11,192.0.2.1,1,0,0,0,3100,3,0.33\r\n"
            "2026-11,192.0.2.2,1,0,2,2,1024,1,1.00\r\n"
            "2026-11,192.0.2.3,1,0,5,0,150,0,\r\n");
}

TEST_CASE("sorting by any column, ties by period then key, and --top") {
  TestStore s(known_sessions());
  const std::string base = "from=2026-11-23&to=2026-11-25&tz=UTC&mode=domain";
  auto keys = [&](const std::string& q) {
    std::string out;
    const auto rep = run_report(s.path, query(base + q));
    for (const auto& r : rep.rows) out += rep.key(r).substr(0, 1) + std::to_string(r.period) + " ";
    return out;
  };
  CHECK(keys("") == "a0 b1 c1 a2 ");
  CHECK(keys("&sort=new_connections") == "a0 b1 c1 a2 ");  // descending by default
  CHECK(keys("&sort=new_connections&order=asc") == "b1 c1 a2 a0 ");
  CHECK(keys("&sort=bandwidth_bytes") == "a0 c1 a2 b1 ");
  CHECK(keys("&sort=bad_commands&order=desc") == "a2 a0 b1 c1 ");
  CHECK(keys("&sort=key") == "a0 a2 b1 c1 ");
  CHECK(keys("&sort=domain&order=desc") == "c1 b1 a0 a2 ");
  CHECK(keys("&sort=period&order=desc") == "a2 b1 c1 a0 ");
  // No messages, no ratio: last in either direction.
  CHECK(keys("&sort=connections_per_message") == "a0 c1 b1 a2 ");
  CHECK(keys("&sort=connections_per_message&order=asc") == "a0 c1 b1 a2 ");
  CHECK(keys("&sort=bandwidth_bytes&top=2") == "a0 c1 ");
  CHECK(keys("&top=10") == "a0 b1 c1 a2 ");
}

TEST_CASE("JSON and table output") {
  TestStore s(known_sessions());
  const auto json = render_json(run_report(s.path, query("from=2026-11-23&to=2026-11-25&tz=UTC&mode=user&sort=messages")));
  CHECK(json.rfind("{\"from\":\"2026-11-23\",\"to\":\"2026-11-25\",\"step\":\"day\",\"mode\":\"user\",\"tz\":\"UTC\","
                   "\"domain\":null,\"direction\":\"both\",\"listener\":null,\"sort\":\"messages\",\"order\":\"desc\",\"columns\":[\"period\",\"user\",",
                   0) == 0);
  CHECK(json.find("[\"2026-11-24\",\"o\\\"neil,x@c.example\",1,0,0,0,1000,2,0.5]") != std::string::npos);
  CHECK(json.find("[\"2026-11-23\",\"alice@a.example\",1,0,0,0,3100,3,0.33]") != std::string::npos);
  const auto trend = render_json(run_report(s.path, query("from=2026-11-25&to=2026-11-25&tz=UTC&domain=a.example")));
  CHECK(trend.find("\"domain\":\"a.example\"") != std::string::npos);
  CHECK(trend.find("[\"2026-11-25\",1,0,5,0,150,0,null]") != std::string::npos);

  const auto table = render_table(run_report(s.path, query("from=2026-11-23&to=2026-11-25&tz=UTC&mode=domain")));
  std::vector<std::string> lines;
  for (std::size_t at = 0, nl; (nl = table.find('\n', at)) != std::string::npos; at = nl + 1) lines.push_back(table.substr(at, nl - at));
  REQUIRE(lines.size() == 5);
  for (const auto& l : lines) CHECK(l.size() == lines[0].size());  // numbers right-aligned to one edge
  CHECK(lines[0].rfind("period      domain  ", 0) == 0);
  CHECK(lines[3].rfind("2026-11-24  c,\"q\".example  ", 0) == 0);
  CHECK(lines[1].find("4.0 KiB") != std::string::npos);
  CHECK(lines[2].find("50 B") != std::string::npos);
  CHECK(lines[2].substr(lines[2].size() - 2) == " -");
  CHECK(lines[1].substr(lines[1].size() - 5) == " 0.50");
  CHECK(human_bytes(1023) == "1023 B");
  CHECK(human_bytes(1536) == "1.5 KiB");
  CHECK(human_bytes(1258291) == "1.2 MiB");
  CHECK(human_bytes(5LL << 30) == "5.0 GiB");
}

TEST_CASE("a DST change day in Europe/Berlin has 25 hours, each labelled once") {
  // 2026-10-25: at 01:00 UTC clocks go from 03:00 CEST back to 02:00 CET.
  TestStore s({
      {utc(2026, 10, 24, 21, 30), "d.example", "", "", "192.0.2.9", 1},  // 23:30 CEST on the 24th
      {utc(2026, 10, 24, 22, 30), "d.example", "", "", "192.0.2.9", 1},  // 00:30 CEST
      {utc(2026, 10, 25, 0, 30), "d.example", "", "", "192.0.2.9", 1},   // 02:30 CEST
      {utc(2026, 10, 25, 1, 30), "d.example", "", "", "192.0.2.9", 1},   // 02:30 CET
      {utc(2026, 10, 25, 22, 30), "d.example", "", "", "192.0.2.9", 1},  // 23:30 CET
      {utc(2026, 10, 25, 23, 30), "d.example", "", "", "192.0.2.9", 1},  // 00:30 CET on the 26th
  });
  const auto rows = s.rows_only_copy();
  CHECK(both(s, rows, "from=2026-10-24&to=2026-10-26&tz=Europe/Berlin") ==
        kHeader + "2026-10-24,1,0,0,0,0,1,1.00\r\n2026-10-25,4,0,0,0,0,4,1.00\r\n2026-10-26,1,0,0,0,0,1,1.00\r\n");
  CHECK(both(s, rows, "from=2026-10-24&to=2026-10-26&tz=Europe/Berlin&mode=domain") ==
        keyed_header("domain") +
            "2026-10-24,d.example,1,0,0,0,0,1,1.00\r\n2026-10-25,d.example,4,0,0,0,0,4,1.00\r\n"
            "2026-10-26,d.example,1,0,0,0,0,1,1.00\r\n");
  const auto r = run_report(s.path, query("from=2026-10-25&to=2026-10-25&tz=Europe/Berlin&step=hour"));
  REQUIRE(r.periods.size() == 25);
  CHECK(r.periods[2].label == "2026-10-25T02:00+02:00");
  CHECK(r.periods[3].label == "2026-10-25T02:00+01:00");
  CHECK(r.periods[24].label == "2026-10-25T23:00+01:00");
  CHECK(r.rows[0].counters.new_connections == 1);  // 00:30 CEST
  CHECK(r.rows[2].counters.new_connections == 1);
  CHECK(r.rows[3].counters.new_connections == 1);
  CHECK(r.rows[24].counters.new_connections == 1);
  // Spring forward, 2026-03-29: 02:00 does not exist, the day has 23 hours.
  const auto spring = run_report(s.path, query("from=2026-03-29&to=2026-03-29&tz=Europe/Berlin&step=hour"));
  REQUIRE(spring.periods.size() == 23);
  CHECK(spring.periods[1].label == "2026-03-29T01:00+01:00");
  CHECK(spring.periods[2].label == "2026-03-29T03:00+02:00");
}

TEST_CASE("a zone offset by half an hour cuts days at :30 UTC") {
  // Asia/Kolkata is UTC+05:30: 18:15 UTC is 23:45, 18:45 UTC is 00:15 the next day.
  TestStore s({
      {utc(2026, 11, 23, 18, 15), "k.example", "kiran@k.example", "success", "192.0.2.5", 1},
      {utc(2026, 11, 23, 18, 45), "k.example", "kiran@k.example", "success", "192.0.2.5", 1},
  });
  const auto rows = s.rows_only_copy();
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-24&tz=Asia/Kolkata&mode=user") ==
        keyed_header("user") + "2026-11-23,kiran@k.example,1,0,0,0,0,1,1.00\r\n2026-11-24,kiran@k.example,1,0,0,0,0,1,1.00\r\n");
  CHECK(both(s, rows, "from=2026-11-23&to=2026-11-24&tz=Asia/Kolkata") ==
        kHeader + "2026-11-23,1,0,0,0,0,1,1.00\r\n2026-11-24,1,0,0,0,0,1,1.00\r\n");
  const auto hours = both(s, rows, "from=2026-11-23&to=2026-11-24&tz=Asia/Kolkata&step=hour&mode=ip");
  CHECK(hours == keyed_header("ip") + "2026-11-23T23:00+05:30,192.0.2.5,1,0,0,0,0,1,1.00\r\n"
                                      "2026-11-24T00:00+05:30,192.0.2.5,1,0,0,0,0,1,1.00\r\n");
}

TEST_CASE("roll-ups do the work: whole units come from packs, only the newest quarter hours from rows") {
  TestStore s(known_sessions());
  ReportStats st;
  // The newest session starts 2026-11-25 13:00: every unit that ended 10 minutes before
  // it is packed (12:45 is the last quarter hour). Two day packs: alice and bob on the
  // 23rd, o"neil on the 24th.
  csv(s.path, "from=2026-11-23&to=2026-11-24&tz=UTC&mode=user", &st);
  CHECK(st.session_rows == 0);
  CHECK(st.rollup_rows == 3);
  csv(s.path, "from=2026-11-23&to=2026-11-25&tz=UTC&step=hour&mode=ip", &st);
  CHECK(st.session_rows == 1);  // F (13:00): E (12:00) is in the quarter-hour pack of 12:00
  csv(s.path, "from=2026-11-23&to=2026-11-25&tz=UTC&step=hour", &st);
  CHECK(st.session_rows == 0);  // trend reads the hourly totals, kept for every hour
  // Berlin's days start at 23:00 UTC: day packs plus the 23:00 hour packs at the edges.
  csv(s.path, "from=2026-11-23&to=2026-11-24&tz=Europe/Berlin&mode=domain", &st);
  CHECK(st.session_rows == 0);
  CHECK(st.rollup_rows > 0);
  // The month is not over: its days, then the hours and quarters of the 25th, then rows.
  csv(s.path, "from=2026-11-01&to=2026-11-30&tz=UTC&mode=ip&step=month", &st);
  CHECK(st.session_rows == 1);
  // India is 5:30 ahead: its hours are quarter hours of UTC.
  csv(s.path, "from=2026-11-23&to=2026-11-24&tz=Asia/Kolkata&mode=user&step=hour", &st);
  CHECK(st.session_rows == 0);
}

TEST_CASE("CSV: a formula-like cell opens as text (OWASP), csv_raw keeps it, bom starts with a BOM") {
  // User names come from SMTP peers: each of these starts like a spreadsheet formula.
  std::vector<Session> sessions;
  for (const std::string user : {"=HYPERLINK(\"http://x.example\",\"y\")", "+1", "-2", "@SUM(A1)", "\tt", "\rr", "plain"})
    sessions.push_back({utc(2026, 11, 23, 10), "a.example", user, "success", "192.0.2.1", 1, 0, "quit", 0, false, 0, 0});
  TestStore s(sessions);
  const std::string q = "from=2026-11-23&to=2026-11-23&tz=UTC&mode=user&format=csv";
  const std::string safe = keyed_header("user") +
                           "2026-11-23,'\tt,1,0,0,0,0,1,1.00\r\n"
                           "2026-11-23,\"'\rr\",1,0,0,0,0,1,1.00\r\n"
                           "2026-11-23,'+1,1,0,0,0,0,1,1.00\r\n"
                           "2026-11-23,'-2,1,0,0,0,0,1,1.00\r\n"
                           "2026-11-23,\"'=HYPERLINK(\"\"http://x.example\"\",\"\"y\"\")\",1,0,0,0,0,1,1.00\r\n"
                           "2026-11-23,'@SUM(A1),1,0,0,0,0,1,1.00\r\n"
                           "2026-11-23,plain,1,0,0,0,0,1,1.00\r\n";
  const std::string raw = keyed_header("user") +
                          "2026-11-23,\tt,1,0,0,0,0,1,1.00\r\n"
                          "2026-11-23,\"\rr\",1,0,0,0,0,1,1.00\r\n"
                          "2026-11-23,+1,1,0,0,0,0,1,1.00\r\n"
                          "2026-11-23,-2,1,0,0,0,0,1,1.00\r\n"
                          "2026-11-23,\"=HYPERLINK(\"\"http://x.example\"\",\"\"y\"\")\",1,0,0,0,0,1,1.00\r\n"
                          "2026-11-23,@SUM(A1),1,0,0,0,0,1,1.00\r\n"
                          "2026-11-23,plain,1,0,0,0,0,1,1.00\r\n";
  auto streamed = [&](const std::string& query_text) {
    std::string out;
    write_report(s.path, query(query_text), [&](std::string_view t) { out += t; });
    return out;
  };
  // In memory (render_csv) and streamed (write_report) alike.
  CHECK(csv(s.path, q) == safe);
  CHECK(streamed(q) == safe);
  CHECK(csv(s.path, q + "&csv_raw=1") == raw);
  CHECK(streamed(q + "&csv_raw=1") == raw);
  CHECK(streamed(q + "&csv_raw=0") == safe);
  // Sorted (not streamed): the same cells.
  CHECK(streamed(q + "&sort=user") == safe);
  CHECK(streamed(q + "&bom=1") == "\xef\xbb\xbf" + safe);
  CHECK(streamed(q + "&bom=1&csv_raw=1") == "\xef\xbb\xbf" + raw);
  CHECK(streamed(q + "&bom=0") == safe);
}

TEST_CASE("SMTP In and SMTP Out: --direction and --listener pick the sessions, packs and rows agree") {
  auto sessions = known_sessions();
  // G, H: the MTA's deliveries through an outbound listener; the user is the sender, the
  // ip the remote server, the domain the sender's. H was refused at the greeting.
  sessions.push_back({utc(2026, 11, 24, 10), "a.example", "", "", "127.0.0.1", 2, 0, "quit", 1, false, 900, 100});
  sessions.push_back({utc(2026, 11, 24, 11), "a.example", "", "", "127.0.0.1", 0, 0, "blocked", 0, true, 10, 90});
  TestStore s(sessions, [](std::size_t i, SessionRecord& r) {
    if (i == 2) r.listener = "submission";  // C stays inbound, on another listener
    if (i < 6) return;
    r.outbound = true;
    r.listener = "out";
    r.user = "carol@a.example";
    r.upstream = i == 6 ? "198.51.100.7:25" : "[2001:db8::25]:25";
  });
  const auto rows = s.rows_only_copy();
  const std::string range = "from=2026-11-23&to=2026-11-25&tz=UTC";
  CHECK(both(s, rows, range + "&direction=out") ==
        kHeader +
            "2026-11-23,0,0,0,0,0,0,\r\n"
            "2026-11-24,2,1,0,2,1100,2,1.00\r\n"
            "2026-11-25,0,0,0,0,0,0,\r\n");
  CHECK(both(s, rows, range + "&direction=out&mode=user&step=month&from=2026-11-01&to=2026-11-30") ==
        keyed_header("user") + "2026-11,carol@a.example,2,1,0,2,1100,2,1.00\r\n");
  CHECK(both(s, rows, range + "&direction=out&mode=ip") ==
        keyed_header("ip") +
            "2026-11-24,198.51.100.7,1,0,0,1,1000,2,0.50\r\n"
            "2026-11-24,2001:db8::25,1,1,0,1,100,0,\r\n");
  CHECK(both(s, rows, range + "&direction=out&mode=domain") == keyed_header("domain") + "2026-11-24,a.example,2,1,0,2,1100,2,1.00\r\n");
  // Inbound leaves them out; both (the default) has them all.
  const auto in_users = both(s, rows, range + "&direction=in&mode=user");
  CHECK(in_users.find("carol") == std::string::npos);
  CHECK(in_users.find("alice@a.example") != std::string::npos);
  CHECK(both(s, rows, range + "&mode=user").find("carol@a.example") != std::string::npos);
  CHECK(both(s, rows, range + "&direction=in") ==
        kHeader +
            "2026-11-23,2,0,2,2,4124,4,0.50\r\n"
            "2026-11-24,2,1,0,1,1050,2,1.00\r\n"
            "2026-11-25,2,0,5,1,250,0,\r\n");
  // One listener.
  CHECK(both(s, rows, range + "&listener=submission&mode=ip") == keyed_header("ip") + "2026-11-24,192.0.2.1,1,1,0,1,50,0,\r\n");
  CHECK(both(s, rows, range + "&listener=out&direction=in&mode=ip") == keyed_header("ip"));
  CHECK(both(s, rows, range + "&listener=nosuch") ==
        kHeader + "2026-11-23,0,0,0,0,0,0,\r\n2026-11-24,0,0,0,0,0,0,\r\n2026-11-25,0,0,0,0,0,0,\r\n");
}

TEST_CASE("a PackSource stands in for the store's packs (the fleet report's seam)") {
  TestStore s(known_sessions());
  const std::string q = "from=2026-11-23&to=2026-11-25&tz=Europe/Berlin&step=hour&mode=ip";
  const std::string expected = csv(s.path, q);
  // The store's ip packs, held apart; then the store has none left.
  std::map<std::pair<smtp::store::Level, std::int64_t>, std::vector<std::string>> held;
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(nullptr, &sqlite3_close);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(s.path.c_str(), &raw) == SQLITE_OK);
  db.reset(raw);
  {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT level, start, data FROM rollup_pack WHERE kind = 2", -1, &st, nullptr) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
      held[{static_cast<smtp::store::Level>(sqlite3_column_int(st, 0)), sqlite3_column_int64(st, 1)}].emplace_back(
          static_cast<const char*>(sqlite3_column_blob(st, 2)), static_cast<std::size_t>(sqlite3_column_bytes(st, 2)));
    sqlite3_finalize(st);
  }
  REQUIRE(!held.empty());
  REQUIRE(sqlite3_exec(raw, "DELETE FROM rollup_pack", nullptr, nullptr, nullptr) == SQLITE_OK);
  CHECK(csv(s.path, q) != expected);  // the store alone has lost them
  std::size_t asked = 0;
  const PackSource source = [&](smtp::store::Level level, std::int64_t start,
                                const std::function<void(std::string_view)>& each) {
    ++asked;
    const auto it = held.find({level, start});
    if (it != held.end())
      for (const auto& p : it->second) each(p);
  };
  CHECK(render_csv(run_report(raw, query(q), nullptr, &source)) == expected);
  CHECK(asked > 0);
  std::string streamed;  // CSV by period streams from the scan, through the same seam
  write_report(raw, query(q + "&format=csv"), [&](std::string_view t) { streamed += t; }, &source);
  CHECK(streamed == expected);
}
