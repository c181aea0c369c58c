#include "fleet/held_packs.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

using namespace smtp;
using fleet::HeldPacks;
using store::Level;
using namespace std::chrono_literals;

namespace {
std::vector<std::string> packs_of(const report::PackSource& source, Level level, std::int64_t start) {
  std::vector<std::string> out;
  source(level, start, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}
}  // namespace

TEST_CASE("held packs: every pack of a unit, copied, and none of another unit") {
  HeldPacks held;
  std::string a = "pack-a", b(3 << 20, 'x');  // b is big enough for an allocation of its own
  held.add(Level::hour, 3600, a);
  held.add(Level::hour, 3600, b);
  held.add(Level::day, 0, "day");
  held.add(Level::hour, 7200, "");  // an empty pack is no pack
  a[0] = 'P';                       // the held copy does not change
  const auto source = held.source();
  CHECK(packs_of(source, Level::hour, 3600) == std::vector<std::string>{"pack-a", b});
  CHECK(packs_of(source, Level::day, 0) == std::vector<std::string>{"day"});
  CHECK(packs_of(source, Level::hour, 7200).empty());
  CHECK(packs_of(source, Level::day, 3600).empty());
}

TEST_CASE("held packs: while streaming, a unit waits until a later start has arrived") {
  HeldPacks held;
  held.open_stream();
  const auto source = held.source();
  auto first = std::async(std::launch::async, [&] { return packs_of(source, Level::hour, 0); });
  held.reached(0);
  held.add(Level::hour, 0, "mx1");
  CHECK(first.wait_for(50ms) == std::future_status::timeout);  // mx2's pack of hour 0 may follow
  held.reached(0);
  held.add(Level::hour, 0, "mx2");
  held.reached(3600);
  held.add(Level::hour, 3600, "mx1-next");
  CHECK(first.get() == std::vector<std::string>{"mx1", "mx2"});
  auto last = std::async(std::launch::async, [&] { return packs_of(source, Level::hour, 3600); });
  CHECK(last.wait_for(50ms) == std::future_status::timeout);
  held.close_stream();
  CHECK(last.get() == std::vector<std::string>{"mx1-next"});
  CHECK_NOTHROW(held.rethrow());
}

TEST_CASE("held packs: a stream that fails hands its error to the waiting report") {
  HeldPacks held;
  held.open_stream();
  const auto source = held.source();
  auto waiting = std::async(std::launch::async, [&] { return packs_of(source, Level::hour, 0); });
  held.close_stream(std::make_exception_ptr(std::runtime_error("server closed the connection")));
  CHECK_THROWS_WITH_AS(waiting.get(), "server closed the connection", std::runtime_error);
  CHECK_THROWS_AS(held.rethrow(), std::runtime_error);
}
