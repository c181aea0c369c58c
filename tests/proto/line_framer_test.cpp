#include <doctest/doctest.h>

#include <string>

#include "proto/line_framer.hpp"

using smtp::proto::Line;
using smtp::proto::LineFramer;

TEST_CASE("line framer: a line inside one input is handed out in place, not copied") {
  LineFramer f(64);
  const std::string input = "EHLO a\r\nNOOP\r\n";
  std::string_view in = input;
  Line line;
  REQUIRE(f.next(in, line));
  CHECK(line.text == "EHLO a");
  CHECK(line.text.data() == input.data());
  CHECK(line.crlf);
  CHECK(line.length == 8);
  REQUIRE(f.next(in, line));
  CHECK(line.text == "NOOP");
  CHECK(in.empty());
}

TEST_CASE("line framer: a line spanning inputs, with its CR and LF apart") {
  LineFramer f(64);
  std::string_view a = "MAIL FROM:<a@b>\r";
  std::string_view b = "\nRS";
  Line line;
  CHECK_FALSE(f.next(a, line));
  CHECK(f.partial());
  REQUIRE(f.next(b, line));
  CHECK(line.text == "MAIL FROM:<a@b>");
  CHECK(line.crlf);
  CHECK_FALSE(line.bare_cr);
  CHECK(line.length == 17);
  CHECK(b == "RS");
}

TEST_CASE("line framer: bare LF ends a line; bare CR stays inside and is flagged, also across inputs") {
  LineFramer f(64);
  std::string_view in = "NOOP\nA\rB\r\n";
  Line line;
  REQUIRE(f.next(in, line));
  CHECK(line.text == "NOOP");
  CHECK_FALSE(line.crlf);
  REQUIRE(f.next(in, line));
  CHECK(line.text == "A\rB");
  CHECK(line.bare_cr);

  std::string_view p1 = "X\r";
  std::string_view p2 = "Y\r\n";
  CHECK_FALSE(f.next(p1, line));
  REQUIRE(f.next(p2, line));
  CHECK(line.text == "X\rY");
  CHECK(line.bare_cr);
  CHECK(line.crlf);
}

TEST_CASE("line framer: keeps max_line bytes, counts the rest, signals the overflow once") {
  LineFramer f(8);
  std::string_view a = "0123456789";
  std::string_view b = "abcdef";
  std::string_view c = "ghij\r\nNEXT\r\n";
  Line line;
  CHECK_FALSE(f.next(a, line));
  CHECK(f.take_overflow());
  CHECK_FALSE(f.take_overflow());
  CHECK_FALSE(f.next(b, line));
  CHECK_FALSE(f.take_overflow());
  REQUIRE(f.next(c, line));
  CHECK(line.text == "01234567");
  CHECK(line.over_long);
  CHECK(line.overflow_reported);
  CHECK(line.length == 10 + 6 + 4 + 2);
  REQUIRE(f.next(c, line));
  CHECK(line.text == "NEXT");
  CHECK_FALSE(line.over_long);
}

TEST_CASE("line framer: exactly max_line bytes is not over-long, even with the CR in a later input") {
  LineFramer f(4);
  std::string_view a = "ABCD\r";
  std::string_view b = "\n";
  Line line;
  CHECK_FALSE(f.next(a, line));
  CHECK_FALSE(f.take_overflow());
  REQUIRE(f.next(b, line));
  CHECK(line.text == "ABCD");
  CHECK_FALSE(line.over_long);
}

TEST_CASE("line framer: a 1 MB line without LF keeps only max_line bytes") {
  LineFramer f(16);
  const std::string chunk(4096, 'x');
  Line line;
  for (int i = 0; i < 256; ++i) {
    std::string_view in = chunk;
    CHECK_FALSE(f.next(in, line));
  }
  CHECK(f.partial_text().size() == 16);
  std::string_view end = "\r\n";
  REQUIRE(f.next(end, line));
  CHECK(line.length == 256u * 4096u + 2u);
  CHECK(line.text.size() == 16);
}
