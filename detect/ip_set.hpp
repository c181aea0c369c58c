// The distinct client keys (IPs or prefixes) seen within a window, kept whole for the alert's "ips".
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/container/small_vector.hpp>

namespace smtp::detect {

using IpBytes = std::array<std::uint8_t, 16>;  // IPv6, or IPv4 mapped into it; masked to the client prefix

// Like DistinctSet, but it keeps the keys themselves, not their hashes, so that an alert can
// name every client it counted. Never more than `cap` entries (the threshold it is compared
// with): the stalest is forgotten to make room. Up to `Inline` sit in the set itself.
template <std::size_t Inline>
class IpSet {
 public:
  // How many distinct keys were seen within the window, this one included.
  std::uint32_t add(const IpBytes& ip, std::uint32_t now_s, std::uint32_t window_s, std::uint32_t cap) {
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return now_s - e.seen > window_s; }),
                   entries_.end());
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.ip == ip; });
    if (it != entries_.end()) {
      it->seen = now_s;
    } else {
      if (entries_.size() >= std::max<std::uint32_t>(cap, 1)) {
        auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.seen < b.seen; });
        entries_.erase(oldest);
      }
      entries_.push_back({ip, now_s});
    }
    return static_cast<std::uint32_t>(entries_.size());
  }

  // The keys, in the order they were first seen.
  std::vector<IpBytes> list() const {
    std::vector<IpBytes> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) out.push_back(e.ip);
    return out;
  }

 private:
  struct Entry {
    IpBytes ip;
    std::uint32_t seen;
  };
  boost::container::small_vector<Entry, Inline> entries_;
};

// The key of a client: its address with the host bits beyond the prefix cleared. An IPv4
// address (mapped into IPv6) takes `v4_prefix` of its 32 bits, any other `v6_prefix` of 128.
inline IpBytes mask_key(IpBytes ip, unsigned v4_prefix, unsigned v6_prefix) {
  const bool v4 = std::all_of(ip.begin(), ip.begin() + 10, [](std::uint8_t b) { return b == 0; }) && ip[10] == 0xff &&
                  ip[11] == 0xff;
  const unsigned keep = v4 ? 96 + std::min(v4_prefix, 32u) : std::min(v6_prefix, 128u);
  for (unsigned bit = keep; bit < 128; ++bit) ip[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  return ip;
}

}  // namespace smtp::detect
