// The one JSON string writer: UTF-8 kept, invalid bytes U+FFFD, control bytes escaped.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "text/json.hpp"

#include <doctest/doctest.h>

#include <chrono>

using smtp::text::json_string;

TEST_CASE("valid UTF-8 passes through as UTF-8") {
  CHECK(json_string("j\xc3\xbcrgen") == "\"j\xc3\xbcrgen\"");
  CHECK(json_string("\xe2\x82\xac 10") == "\"\xe2\x82\xac 10\"");        // U+20AC
  CHECK(json_string("\xf0\x9f\x93\xa7") == "\"\xf0\x9f\x93\xa7\"");      // U+1F4E7, four bytes
}

TEST_CASE("each invalid byte becomes U+FFFD") {
  CHECK(json_string("j\xfcrgen") == "\"j\xef\xbf\xbdrgen\"");              // Latin-1
  CHECK(json_string("\xc0\xaf") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");        // overlong '/'
  CHECK(json_string("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // a surrogate
  CHECK(json_string("\xe2\x82") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");        // cut short
  CHECK(json_string("\xf4\x90\x80\x80").starts_with("\"\xef\xbf\xbd"));    // past U+10FFFF
}

TEST_CASE("quotes, backslashes and control bytes are escaped") {
  CHECK(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_string("l1\nl2\r\t") == "\"l1\\nl2\\r\\t\"");
  CHECK(json_string(std::string_view("\0\x1b\x7f", 3)) == "\"\\u0000\\u001b\\u007f\"");
}

TEST_CASE("timestamps are UTC with milliseconds") {
  const std::chrono::system_clock::time_point t{std::chrono::milliseconds(1'795'420'645'923)};
  CHECK(smtp::text::iso8601_utc(t) == "2026-11-23T07:57:25.923Z");
}

TEST_CASE("utf8_prefix cuts between characters, never inside one") {
  using smtp::text::utf8_prefix;
  CHECK(utf8_prefix("GET /", 80) == "GET /");
  CHECK(utf8_prefix("abcdef", 3) == "abc");
  CHECK(utf8_prefix("ab\xc3\xbc" "c", 3) == "ab");          // ü is two bytes: left out whole
  CHECK(utf8_prefix("ab\xc3\xbc" "c", 4) == "ab\xc3\xbc");  // or kept whole
  CHECK(utf8_prefix("a\xe2\x82\xac", 3) == "a");            // € is three
  CHECK(utf8_prefix("a\xf0\x9f\x93\xa7x", 4) == "a");       // a four-byte mail emoji
  CHECK(utf8_prefix("a\xff\xfe" "b", 2) == "a\xff");         // invalid bytes count one each
  CHECK(utf8_prefix("\xc3\xbc", 0).empty());
}
