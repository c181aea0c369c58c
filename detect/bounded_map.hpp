// A sharded map with a cap on its size; when full, the oldest-inserted key is evicted.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace smtp::detect {

// Per-IP and per-user detector state. Sharding keeps the I/O threads from contending on
// one lock; the cap keeps a scan from a million addresses from growing memory without
// bound, at the price of forgetting the oldest keys first.
// A hash that also takes string_view, so that users are looked up without a copy.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class Key, class Value, class Hash = std::hash<Key>, class Equal = std::equal_to<Key>>
class BoundedMap {
 public:
  static constexpr std::size_t kShards = 16;

  explicit BoundedMap(std::size_t cap) { set_cap(cap); }
  void set_cap(std::size_t cap) { cap_.store(std::max<std::size_t>(1, cap), std::memory_order_relaxed); }

  // Runs f(Value&) under the shard's lock, creating the value if needed. `key` may be
  // any type the hash and equality take (a string_view for string keys).
  template <class K, class F>
  auto with(const K& key, F&& f) {
    Shard& s = shards_[Hash{}(key) % kShards];
    std::lock_guard lock(s.mutex);
    auto it = s.map.find(key);
    if (it == s.map.end()) {
      // The cap is on the whole map, so shards that hash a little unevenly do not churn;
      // room is made in the shard at hand, whose oldest key goes first.
      while (size_.load(std::memory_order_relaxed) >= cap_.load(std::memory_order_relaxed) && !s.order.empty()) {
        s.map.erase(s.order.front());
        s.order.pop_front();
        size_.fetch_sub(1, std::memory_order_relaxed);
      }
      it = s.map.emplace(Key(key), Value{}).first;
      s.order.push_back(it->first);
      size_.fetch_add(1, std::memory_order_relaxed);
    }
    return f(it->second);
  }

  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<Key, Value, Hash, Equal> map;
    std::deque<Key> order;  // insertion order, for eviction
  };
  std::array<Shard, kShards> shards_;
  std::atomic<std::size_t> cap_{1};
  std::atomic<std::size_t> size_{0};
};

}  // namespace smtp::detect
