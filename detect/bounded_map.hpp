// A sharded map with a cap on its size; when full, the oldest-inserted key is evicted.
#pragma once

#include <array>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace smtp::detect {

// Per-IP and per-user detector state. Sharding keeps the I/O threads from contending on
// one lock; the cap keeps a scan from a million addresses from growing memory without
// bound, at the price of forgetting the oldest keys first.
template <class Key, class Value, class Hash = std::hash<Key>>
class BoundedMap {
 public:
  static constexpr std::size_t kShards = 16;

  explicit BoundedMap(std::size_t cap) { set_cap(cap); }
  void set_cap(std::size_t cap) {
    for (auto& s : shards_) {
      std::lock_guard lock(s.mutex);
      s.cap = std::max<std::size_t>(1, cap / kShards);
    }
  }

  // Runs f(Value&) under the shard's lock, creating the value if needed.
  template <class F>
  auto with(const Key& key, F&& f) {
    Shard& s = shards_[Hash{}(key) % kShards];
    std::lock_guard lock(s.mutex);
    auto it = s.map.find(key);
    if (it == s.map.end()) {
      while (s.map.size() >= s.cap && !s.order.empty()) {
        s.map.erase(s.order.front());
        s.order.pop_front();
      }
      it = s.map.emplace(key, Value{}).first;
      s.order.push_back(key);
    }
    return f(it->second);
  }

  std::size_t size() {
    std::size_t n = 0;
    for (auto& s : shards_) {
      std::lock_guard lock(s.mutex);
      n += s.map.size();
    }
    return n;
  }

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<Key, Value, Hash> map;
    std::deque<Key> order;  // insertion order, for eviction
    std::size_t cap = 1;
  };
  std::array<Shard, kShards> shards_;
};

}  // namespace smtp::detect
