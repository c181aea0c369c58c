// ClientSlots: the per-client session counts behind max_connections_per_client.
#include "daemon/sense/client_slots.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

using smtp::daemon::ClientSlots;
using smtp::detect::IpBytes;

namespace {
IpBytes key(std::uint8_t last) {
  IpBytes k{};
  k[10] = k[11] = 0xff;  // IPv4-mapped 192.0.2.last
  k[12] = 192, k[13] = 0, k[14] = 2, k[15] = last;
  return k;
}
}  // namespace

TEST_CASE("client slots: a client holds at most its limit and gets one back when a session closes") {
  ClientSlots slots;
  CHECK(slots.take(key(1), 2));
  CHECK(slots.take(key(1), 2));
  CHECK_FALSE(slots.take(key(1), 2));
  CHECK(slots.held(key(1)) == 2);
  CHECK(slots.take(key(2), 2));  // another client is counted apart
  slots.give_back(key(1));
  CHECK(slots.take(key(1), 2));
  CHECK_FALSE(slots.take(key(1), 2));
  // A lower limit after a reload refuses until enough sessions have closed.
  CHECK_FALSE(slots.take(key(1), 1));
  CHECK(slots.clients() == 2);
}

TEST_CASE("client slots: only clients with a session open have an entry") {
  ClientSlots slots;
  for (int i = 0; i < 200; ++i) REQUIRE(slots.take(key(static_cast<std::uint8_t>(i)), 1));
  CHECK(slots.clients() == 200);
  for (int i = 0; i < 200; ++i) slots.give_back(key(static_cast<std::uint8_t>(i)));
  CHECK(slots.clients() == 0);
  slots.give_back(key(7));  // nothing held: nothing to give back, and no entry made
  CHECK(slots.clients() == 0);
  CHECK_FALSE(slots.take(key(9), 0));  // a limit of 0 is never passed, and leaves no entry
  CHECK(slots.clients() == 0);
}

TEST_CASE("client slots: sessions on several threads never exceed the limit") {
  ClientSlots slots;
  constexpr std::uint32_t kLimit = 5;
  std::atomic<int> over{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        if (!slots.take(key(3), kLimit)) continue;
        if (slots.held(key(3)) > kLimit) ++over;
        slots.give_back(key(3));
      }
    });
  for (auto& t : threads) t.join();
  CHECK(over == 0);
  CHECK(slots.clients() == 0);
}
