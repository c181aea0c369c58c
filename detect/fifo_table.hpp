// A hash table that forgets its oldest key first: one shard of BoundedMap.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace smtp::detect {

// An open-addressing index (linear probing, at most half full) maps a key's hash to its
// entry in a slab. A lookup reads one 8-byte slot, usually, and then the entry itself,
// where a node-based map chases two or three pointers: with 100,000 tracked IPs each of
// those is a cache miss. The insertion order is a queue of slab positions, and a freed
// entry is reused by the next insert, so a full table churns without allocating. The slab
// grows in fixed chunks, so growing never moves an entry.
//
// The caller passes each key's 64-bit hash, computed once per event. Not thread-safe.
template <class Key, class Value, class Equal = std::equal_to<>>
class FifoTable {
 public:
  std::size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }

  // `key` may be of any type Equal compares with Key (a string_view for string keys).
  template <class K>
  Value* find(const K& key, std::uint64_t hash) {
    if (slots_.empty()) return nullptr;
    const std::uint32_t tag = tag_of(hash);
    for (std::size_t i = home(tag);; i = next(i)) {
      const Slot& s = slots_[i];
      if (s.tag == 0) return nullptr;
      if (s.tag == tag) {
        Entry& e = entry(s.entry);
        if (Equal{}(e.key, key)) return &e.value;
      }
    }
  }

  // Adds a key that is not in the table yet, as the newest, with a default value.
  Value& insert(Key key, std::uint64_t hash) {
    if (2 * (size() + 1) > slots_.size()) grow_index();
    std::uint32_t at;
    if (free_.empty()) {
      if (used_ % kChunk == 0) chunks_.push_back(std::make_unique<Entry[]>(kChunk));
      at = used_++;
    } else {
      at = free_.back();
      free_.pop_back();
    }
    Entry& e = entry(at);
    e.key = std::move(key);
    e.tag = tag_of(hash);
    place({e.tag, at});
    order_.push_back(at);
    return e.value;
  }

  // Forgets the oldest key and frees what its value held.
  void pop_oldest() {
    assert(!order_.empty());
    const std::uint32_t at = order_.front();
    order_.pop_front();
    Entry& e = entry(at);
    std::size_t i = home(e.tag);
    while (slots_[i].tag == 0 || slots_[i].entry != at) i = next(i);
    erase_slot(i);
    e = Entry{};
    free_.push_back(at);
  }

 private:
  struct Slot {
    std::uint32_t tag = 0;    // from the hash, never 0; 0 marks a free slot
    std::uint32_t entry = 0;  // position in the slab
  };
  struct Entry {
    Key key{};
    std::uint32_t tag = 0;  // to find the entry's slot again when it is evicted
    Value value{};
  };

  static constexpr std::uint32_t kChunk = 64;  // entries per slab chunk

  Entry& entry(std::uint32_t at) { return chunks_[at / kChunk][at % kChunk]; }

  // Fibonacci hashing: the high half of hash x 2^64/phi depends on every bit of the hash,
  // so hashes with weak high bits (std::hash of an integer is the integer itself) still
  // spread over the index, and keys of one shard (same low bits) do not crowd together.
  static std::uint32_t tag_of(std::uint64_t hash) {
    return static_cast<std::uint32_t>((hash * 0x9E3779B97F4A7C15ull) >> 32) | 1u;
  }
  std::size_t home(std::uint32_t tag) const { return tag >> shift_; }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }

  void place(Slot s) {
    std::size_t i = home(s.tag);
    while (slots_[i].tag != 0) i = next(i);
    slots_[i] = s;
  }

  // Backward-shift deletion: later slots of the same probe run move up into the hole, so
  // lookups never meet tombstones and the index does not silt up as keys churn.
  void erase_slot(std::size_t hole) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t j = next(hole); slots_[j].tag != 0; j = next(j)) {
      // Slot j may move into the hole unless its home lies cyclically in (hole, j].
      const std::size_t from_home = (j - home(slots_[j].tag)) & mask;
      const std::size_t from_hole = (j - hole) & mask;
      if (from_home >= from_hole) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
  }

  // The index size stays a power of two, so a slot's home is the tag's top bits.
  void grow_index() {
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(slots_.empty() ? 16 : 2 * slots_.size()));
    shift_ = 32 - std::countr_zero(slots_.size());
    for (const Slot& s : old)
      if (s.tag != 0) place(s);
  }

  std::vector<std::unique_ptr<Entry[]>> chunks_;  // the slab
  std::uint32_t used_ = 0;                         // slab positions handed out so far
  std::vector<std::uint32_t> free_;                // positions freed by evictions, for the next inserts
  std::deque<std::uint32_t> order_;                // slab positions, oldest first
  std::vector<Slot> slots_;
  int shift_ = 32;
};

}  // namespace smtp::detect
