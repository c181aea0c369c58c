// A sharded map with a cap on its size; when full, the oldest-inserted key is evicted.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <utility>

#include "detect/fifo_table.hpp"

namespace smtp::detect {

// A hash that also takes string_view, so that users are looked up without a copy.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Per-IP and per-user detector state. Sharding keeps the I/O threads from contending on
// one lock; the cap keeps a scan from a million addresses from growing memory without
// bound, at the price of forgetting the oldest keys first.
template <class Key, class Value, class Hash = std::hash<Key>, class Equal = std::equal_to<>>
class BoundedMap {
 public:
  static constexpr std::size_t kShards = 16;

  explicit BoundedMap(std::size_t cap) { set_cap(cap); }
  void set_cap(std::size_t cap) { cap_.store(std::max<std::size_t>(1, cap), std::memory_order_relaxed); }

  // Runs f(Value&) under the shard's lock, creating the value if needed. `key` may be
  // any type the hash and equality take (a string_view for string keys); `hash` is
  // Hash{}(key), for callers that need it for something else as well.
  template <class K, class F>
  auto with(const K& key, std::uint64_t hash, F&& f) {
    Shard& s = shards_[hash % kShards];
    std::lock_guard lock(s.mutex);
    Value* v = s.table.find(key, hash);
    if (!v) {
      // The cap is on the whole map, so shards that hash a little unevenly do not churn;
      // room is made in the shard at hand, whose oldest key goes first.
      while (size_.load(std::memory_order_relaxed) >= cap_.load(std::memory_order_relaxed) && !s.table.empty()) {
        s.table.pop_oldest();
        size_.fetch_sub(1, std::memory_order_relaxed);
      }
      v = &s.table.insert(Key(key), hash);
      size_.fetch_add(1, std::memory_order_relaxed);
    }
    return f(*v);
  }
  template <class K, class F>
  auto with(const K& key, F&& f) {
    return with(key, Hash{}(key), std::forward<F>(f));
  }

  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  // Shards sit on separate cache lines, so threads working on different ones do not
  // contend on a line they share.
  struct alignas(64) Shard {
    std::mutex mutex;
    FifoTable<Key, Value, Equal> table;
  };
  std::array<Shard, kShards> shards_;
  std::atomic<std::size_t> cap_{1};
  std::atomic<std::size_t> size_{0};
};

}  // namespace smtp::detect
