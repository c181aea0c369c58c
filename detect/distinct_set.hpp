// The distinct values (usernames, IPs) seen within a window, capped in size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <boost/container/small_vector.hpp>

namespace smtp::detect {

// Values are 64-bit hashes with the second they were last seen. The set never holds
// more than `cap` entries: once it reaches the threshold the detector has fired, so
// remembering more would only cost memory. Up to `Inline` entries sit in the set itself,
// next to the rest of the key's state, so a set within the default thresholds costs no
// allocation and no extra cache miss; larger thresholds spill to the heap.
template <std::size_t Inline>
class DistinctSet {
 public:
  // Returns how many distinct values were seen within the window, this one included.
  std::uint32_t add(std::uint64_t hash, std::uint32_t now_s, std::uint32_t window_s, std::uint32_t cap) {
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return now_s - e.seen > window_s; }),
                   entries_.end());
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.hash == hash; });
    if (it != entries_.end()) {
      it->seen = now_s;
    } else {
      if (entries_.size() >= cap) {  // forget the stalest to make room
        auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.seen < b.seen; });
        entries_.erase(oldest);
      }
      entries_.push_back({hash, now_s});
    }
    return static_cast<std::uint32_t>(entries_.size());
  }

 private:
  struct Entry {
    std::uint64_t hash;
    std::uint32_t seen;
  };
  boost::container::small_vector<Entry, Inline> entries_;
};

}  // namespace smtp::detect
