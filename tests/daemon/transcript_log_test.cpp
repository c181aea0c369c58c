// The transcript file: each line's head (local time with milliseconds, the LCID right-aligned in ten), and whole lines only when the disk refuses a write.
#include "daemon/sinks/transcript_log.hpp"
#include "tests/file_size_limit.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using namespace smtp::daemon;

namespace {

// "YYYY-MM-DD HH:MM:SS,mmm" and then `rest` (std::regex trips GCC 12's maybe-uninitialized
// under the sanitizers, so the shape is checked by hand).
bool line_is(const std::string& line, std::string_view rest) {
  constexpr std::string_view shape = "dddd-dd-dd dd:dd:dd,ddd";
  if (line.size() != shape.size() + rest.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const char c = line[i];
    if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i]) return false;
  }
  return line.substr(shape.size()) == rest;
}

}  // namespace

TEST_CASE("each line: time, milliseconds, the LCID padded to ten (wider ones whole), the text") {
  char dir_template[] = "/tmp/transcript_log_test.XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(dir_template);
  smtp::config::Transcripts cfg;
  cfg.path = (dir / "transcript.log").string();
  {
    TranscriptLog log(cfg);
    log.line(42, "C --> EHLO a");
    log.line(36556595, "S <-- 250 ok");
    log.line(12345678901ull, "wider than ten");
    log.flush();
  }
  std::ifstream in(cfg.path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::filesystem::remove_all(dir);
  REQUIRE(lines.size() == 3);
  CHECK(line_is(lines[0], " - [        42] C --> EHLO a"));
  CHECK(line_is(lines[1], " - [  36556595] S <-- 250 ok"));
  CHECK(line_is(lines[2], " - [12345678901] wider than ten"));
}

TEST_CASE("a chunk the file cuts short is taken back whole, and its lines are counted as dropped") {
  char dir_template[] = "/tmp/transcript_log_test.XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(dir_template);
  smtp::config::Transcripts cfg;
  cfg.path = (dir / "transcript.log").string();
  const std::string text(40, 'x');  // a line of 80 bytes with its head
  std::uint64_t dropped = 0;
  {
    smtp::test::FileSizeLimit full(100'003);  // write(2) stops part-way into a line
    TranscriptLog log(cfg);
    for (int i = 0; i < 1000; ++i) log.line(7, text);  // 77 KB: written
    log.flush();
    for (int i = 0; i < 2000; ++i) log.line(8, text);  // a 64 KB chunk crosses the limit
    log.flush();
    dropped = log.dropped();
  }
  std::ifstream in(cfg.path, std::ios::binary);
  const std::string all{std::istreambuf_iterator<char>(in), {}};
  std::filesystem::remove_all(dir);
  REQUIRE(!all.empty());
  CHECK(all.back() == '\n');
  std::size_t lines = 0;
  bool whole = true;
  for (std::size_t at = 0; at < all.size(); ++lines) {
    const auto end = std::min(all.find('\n', at), all.size());
    const std::string line = all.substr(at, end - at);
    whole = whole && (line_is(line, " - [         7] " + text) || line_is(line, " - [         8] " + text));
    at = end + 1;
  }
  CHECK(whole);
  CHECK(lines >= 1000);
  CHECK(dropped > 0);
  CHECK(lines + dropped == 3000);
}
