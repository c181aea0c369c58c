// The shared events' COPY line and its read-back (SPEC 10, shared counts), without a server.
#include "fleet/share_codec.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace smtp;

TEST_CASE("an event is one COPY line: sensor, time, kind, key as bytea hex, user") {
  detect::DetectorEvent e;
  e.kind = detect::EventKind::auth_failure;
  e.ip[10] = e.ip[11] = 0xff;
  e.ip[12] = 127;
  e.ip[15] = 7;
  e.user = "bob\tthe\\builder\n";
  e.ts_ms = 1'765'000'000'123;
  std::string line;
  fleet::append_event_row(line, "mx1", e);
  CHECK(line == "mx1\t1765000000123\t4\t\\\\x00000000000000000000ffff7f000007\tbob\\tthe\\\\builder\\n\n");
}

TEST_CASE("a row read back gives the same event; bad rows are refused") {
  const auto e = fleet::decode_event("1765000000123", "4", "00000000000000000000ffff7f000007", "bob");
  REQUIRE(e);
  CHECK(e->kind == detect::EventKind::auth_failure);
  CHECK(e->ts_ms == 1'765'000'000'123);
  CHECK(e->ip[12] == 127);
  CHECK(e->ip[15] == 7);
  CHECK(e->user == "bob");
  CHECK_FALSE(fleet::decode_event("1", "99", "00000000000000000000ffff7f000007", ""));  // a kind of a newer release
  CHECK_FALSE(fleet::decode_event("1", "4", "ffff7f000007", ""));                       // not 16 bytes
  CHECK_FALSE(fleet::decode_event("1", "4", "zz000000000000000000ffff7f000007", ""));
  CHECK_FALSE(fleet::decode_event("x", "4", "00000000000000000000ffff7f000007", ""));
}

TEST_CASE("a peer's long or invalid username is bounded and made valid UTF-8") {
  detect::DetectorEvent e;
  e.user = std::string(5000, 'a') + "\xff";
  std::string line;
  fleet::append_event_row(line, "mx1", e);
  CHECK(line.size() < 400);
  CHECK(line.find('\xff') == std::string::npos);
}
