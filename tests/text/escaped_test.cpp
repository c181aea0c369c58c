// Transcript escaping: control bytes as \xNN, in stretches, the same through fmt and append.
#include "text/escaped.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

using smtp::text::append_escaped;
using smtp::text::Escaped;

namespace {

// The rule spelled out a byte at a time, to check the stretch-wise writers against.
std::string reference(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 0x20 && c != 0x7f) || c == '\t') {
      out += ch;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string appended(std::string_view text) {
  fmt::memory_buffer buf;
  append_escaped(buf, text);
  return fmt::to_string(buf);
}

}  // namespace

TEST_CASE("control bytes become \\xNN; tabs and 8-bit bytes pass") {
  CHECK(appended("MAIL FROM:<a@b>") == "MAIL FROM:<a@b>");
  CHECK(appended("") == "");
  CHECK(appended("x\r\n") == "x\\x0d\\x0a");
  CHECK(appended("\x1b[2J\x7f") == "\\x1b[2J\\x7f");
  CHECK(appended(std::string_view("a\0b", 3)) == "a\\x00b");
  CHECK(appended("a\tb \xc3\xa9\xff") == "a\tb \xc3\xa9\xff");
  CHECK(fmt::format("S <-- {}", Escaped{"250 ok\r"}) == "S <-- 250 ok\\x0d");
}

TEST_CASE("append and the fmt formatter agree with the byte-by-byte rule on random text") {
  std::mt19937 rng(20261207);
  for (int round = 0; round < 2000; ++round) {
    std::string text(rng() % 80, '\0');
    // Mostly printable, as peers' lines are, with control and 8-bit bytes among them.
    for (char& c : text) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 0x20 + rng() % 95);
    CAPTURE(round);
    const std::string want = reference(text);
    CHECK(appended(text) == want);
    CHECK(fmt::format("{}", Escaped{text}) == want);
  }
}
