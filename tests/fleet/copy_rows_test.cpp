#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "fleet/copy_rows.hpp"
#include "fleet/fleet_report.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace smtp;

namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == sep) out.emplace_back();
    else out.back() += c;
  }
  return out;
}

store::SessionRecord sample() {
  store::SessionRecord r;
  r.lcid = 123456789;
  r.start_ms = 1'700'000'000'000;
  r.end_ms = 1'700'000'000'250;
  r.listener = "smtp";
  r.client_ip = "127.0.0.2";
  r.client_port = 40000;
  r.upstream = "127.0.0.1:25";
  r.helo = "client.example";
  r.tls = true;
  r.tls_version = "TLSv1.3";
  r.auth_user = "alice@example.com";
  r.auth_result = "success";
  r.domain = "example.com";
  r.messages = 2;
  r.recipients = 3;
  r.commands = 9;
  r.bad_commands = 1;
  r.permanent_failures = 0;
  r.termination = "quit";
  r.blocked = false;
  r.bytes_in = 5000;
  r.bytes_out = 700;
  return r;
}

}  // namespace

TEST_CASE("a row has one field per column, in the column list's order") {
  std::string out;
  fleet::append_copy_row(out, "mx1", sample());
  REQUIRE(out.back() == '\n');
  out.pop_back();
  const auto fields = split(out, '\t');
  CHECK(fields.size() == split(fleet::kSessionColumns, ',').size());
  CHECK(fields[0] == "mx1");
  CHECK(fields[1] == "123456789");
  CHECK(fields[2] == "1700000000000");
  CHECK(fields[9] == "t");
  CHECK(fields[12] == "alice@example.com");
  CHECK(fields[14] == "example.com");
  CHECK(fields[21] == "f");
  CHECK(fields[22] == "5000");
  CHECK(fields[23] == "700");
}

TEST_CASE("peer text is escaped for COPY and made valid UTF-8") {
  std::string out;
  fleet::append_copy_text(out, "a\tb\\c\nd\re");
  CHECK(out == "a\\tb\\\\c\\nd\\re");
  out.clear();
  fleet::append_copy_text(out, std::string("x\0y", 3));
  CHECK(out == "x\xEF\xBF\xBDy");
  out.clear();
  fleet::append_copy_text(out, "j\xC3\xBCrgen \xFF\xC0\xAF");
  CHECK(out == "j\xC3\xBCrgen \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("a batch is one line per session") {
  std::string out;
  auto r = sample();
  r.helo = "evil\nhelo\ttab";
  for (int i = 0; i < 3; ++i) {
    r.lcid = static_cast<std::uint64_t>(i + 1);
    fleet::append_copy_row(out, "mx2", r);
  }
  const auto lines = split(out, '\n');
  REQUIRE(lines.size() == 4);  // the last is empty
  CHECK(lines[3].empty());
  for (int i = 0; i < 3; ++i) CHECK(split(lines[static_cast<std::size_t>(i)], '\t')[8] == "evil\\nhelo\\ttab");
}

TEST_CASE("the fleet report reads back what COPY text holds") {
  std::string line;
  const std::vector<std::string> fields{"mx1", "a\tb", "back\\slash", "two\nlines", "", "j\xC3\xBCrgen"};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) line += '\t';
    fleet::append_copy_text(line, fields[i]);
  }
  std::vector<std::string> got;
  fleet::split_copy_line(line, got);
  CHECK(got == fields);
}
