#include "detect/bounded_map.hpp"
#include "detect/fifo_table.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

using namespace smtp::detect;

namespace {

// The table takes the hash from its caller, so a test can make keys collide at will.
std::uint64_t hash_for(std::uint32_t n) { return n * 0xC2B2AE3D27D4EB4Full; }

}  // namespace

TEST_CASE("a fifo table finds what it holds, by key, and nothing else") {
  FifoTable<std::uint64_t, int> t;
  CHECK(t.find(std::uint64_t{1}, 1) == nullptr);
  for (std::uint64_t k = 0; k < 100; ++k) t.insert(k, k * 0x9E3779B97F4A7C15ull) = static_cast<int>(k) + 1000;
  CHECK(t.size() == 100);
  for (std::uint64_t k = 0; k < 100; ++k) {
    const int* v = t.find(k, k * 0x9E3779B97F4A7C15ull);
    REQUIRE(v != nullptr);
    CHECK(*v == static_cast<int>(k) + 1000);
  }
  CHECK(t.find(std::uint64_t{100}, 100 * 0x9E3779B97F4A7C15ull) == nullptr);
  // Same hash, other key: the tag matches but the key does not.
  CHECK(t.find(std::uint64_t{100}, 7 * 0x9E3779B97F4A7C15ull) == nullptr);
}

TEST_CASE("a fifo table with string keys is searched with string_view") {
  FifoTable<std::string, int> t;
  const std::string long_name(40, 'x');
  t.insert("alice", std::hash<std::string_view>{}("alice")) = 1;
  t.insert(long_name, std::hash<std::string_view>{}(long_name)) = 2;
  CHECK(*t.find(std::string_view("alice"), std::hash<std::string_view>{}("alice")) == 1);
  CHECK(*t.find(std::string_view(long_name), std::hash<std::string_view>{}(long_name)) == 2);
  CHECK(t.find(std::string_view("bob"), std::hash<std::string_view>{}("bob")) == nullptr);
}

TEST_CASE("a fifo table forgets the oldest key first, and a key let go starts afresh") {
  FifoTable<int, std::string> t;
  for (int k = 0; k < 10; ++k) t.insert(k, hash_for(k * 7919u)) = "value " + std::to_string(k);
  t.pop_oldest();
  t.pop_oldest();
  CHECK(t.size() == 8);
  CHECK(t.find(0, hash_for(0)) == nullptr);
  CHECK(t.find(1, hash_for(7919u)) == nullptr);
  REQUIRE(t.find(2, hash_for(2 * 7919u)) != nullptr);
  CHECK(*t.find(2, hash_for(2 * 7919u)) == "value 2");
  // The freed entries are reused, with a default value.
  CHECK(t.insert(0, hash_for(0)).empty());
  for (int k = 2; k < 10; ++k) t.pop_oldest();
  CHECK(t.size() == 1);
  CHECK(t.find(0, hash_for(0)) != nullptr);  // inserted last, so evicted last
  t.pop_oldest();
  CHECK(t.empty());
  CHECK(t.find(0, hash_for(0)) == nullptr);
}

TEST_CASE("keys in one probe run stay reachable when one before them is evicted") {
  // Every key has the same hash, so all sit in one run of slots; evicting the oldest
  // must shift the others back rather than cut the run.
  FifoTable<int, int> t;
  for (int k = 0; k < 6; ++k) t.insert(k, hash_for(0x12345678u)) = k;
  t.pop_oldest();
  t.pop_oldest();
  for (int k = 2; k < 6; ++k) {
    REQUIRE(t.find(k, hash_for(0x12345678u)) != nullptr);
    CHECK(*t.find(k, hash_for(0x12345678u)) == k);
  }
}

TEST_CASE("a fifo table agrees with a reference map through growth, eviction and collisions") {
  // Few distinct hashes force long probe runs and many shifts, and while the index is
  // small, runs that wrap past its end; the run also covers the index growing and the slab
  // reusing freed entries.
  FifoTable<std::uint32_t, std::uint32_t> t;
  std::unordered_map<std::uint32_t, std::uint32_t> model;
  std::deque<std::uint32_t> order;
  const auto hash = [](std::uint32_t k) { return hash_for((k % 37) * 0x0DEADBEFu); };
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int step = 0; step < 200'000; ++step) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const auto key = static_cast<std::uint32_t>((x * 2685821657736338717ull) >> 40) % 3000;
    if (std::uint32_t* v = t.find(key, hash(key))) {
      REQUIRE(model.count(key) == 1);
      CHECK(*v == model[key]);
      *v = model[key] = static_cast<std::uint32_t>(step);
    } else {
      REQUIRE(model.count(key) == 0);
      // Keep at most 1,000 keys, as BoundedMap would with that cap.
      while (t.size() >= 1000) {
        t.pop_oldest();
        model.erase(order.front());
        order.pop_front();
      }
      t.insert(key, hash(key)) = static_cast<std::uint32_t>(step);
      model[key] = static_cast<std::uint32_t>(step);
      order.push_back(key);
    }
    REQUIRE(t.size() == model.size());
  }
  for (const auto& [k, v] : model) {
    REQUIRE(t.find(k, hash(k)) != nullptr);
    CHECK(*t.find(k, hash(k)) == v);
  }
}

TEST_CASE("a bounded map holds at most its cap, dropping the oldest keys, and a lower cap applies on the next insert") {
  // std::hash of an integer is the integer itself: the table must spread such keys too.
  BoundedMap<std::uint32_t, int> m(100);
  for (std::uint32_t k = 0; k < 1000; ++k) m.with(k, [&](int& v) { v = static_cast<int>(k) + 1; });
  CHECK(m.size() == 100);
  // The latest key is there with its value; the first is gone, so a lookup recreates it.
  CHECK(m.with(999u, [](int& v) { return v; }) == 1000);
  CHECK(m.with(0u, [](int& v) { return v; }) == 0);
  CHECK(m.size() == 100);
  m.set_cap(10);
  m.with(5000u, [](int&) {});
  CHECK(m.size() <= 100);
  for (std::uint32_t k = 6000; k < 6200; ++k) m.with(k, [](int&) {});
  CHECK(m.size() <= 10 + BoundedMap<std::uint32_t, int>::kShards);
}
