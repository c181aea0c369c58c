// The transcript file's line head: local time with milliseconds, the LCID right-aligned in ten.
#include "daemon/sinks/transcript_log.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

using namespace smtp::daemon;

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
  const std::string stamp = R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})";
  CHECK(std::regex_match(lines[0], std::regex(stamp + R"( - \[        42\] C --> EHLO a)")));
  CHECK(std::regex_match(lines[1], std::regex(stamp + R"( - \[  36556595\] S <-- 250 ok)")));
  CHECK(std::regex_match(lines[2], std::regex(stamp + R"( - \[12345678901\] wider than ten)")));
}
