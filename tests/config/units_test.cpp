#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "config/units.hpp"

#include <doctest/doctest.h>

using namespace smtp::config;
using namespace std::chrono_literals;

TEST_CASE("durations need a unit and round-trip through format_duration") {
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("10m") == 10min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("2d") == 48h);
  CHECK(parse_duration("500ms") == 500ms);
  CHECK_FALSE(parse_duration("30"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("3x"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("99999999999999999999d"));
  for (const auto* text : {"30s", "10m", "1h", "2d", "1500ms", "400d"}) CHECK(format_duration(*parse_duration(text)) == text);
}

TEST_CASE("sizes take binary and decimal units, or plain bytes") {
  CHECK(parse_size("64KiB") == 65536u);
  CHECK(parse_size("100MiB") == 100u << 20);
  CHECK(parse_size("1GiB") == 1u << 30);
  CHECK(parse_size("10MB") == 10'000'000u);
  CHECK(parse_size("4096") == 4096u);
  CHECK_FALSE(parse_size("12XB"));
  CHECK_FALSE(parse_size("MiB"));
  CHECK(format_size(100u << 20) == "100MiB");
  CHECK(format_size(4096) == "4KiB");
  CHECK(format_size(1000) == "1000");
}
