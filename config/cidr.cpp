#include "config/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace smtp::config {

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  Cidr c;
  unsigned max_prefix = 128;
  unsigned offset = 0;
  in_addr v4{};
  if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) {
    c.net_[10] = 0xff;
    c.net_[11] = 0xff;
    std::memcpy(&c.net_[12], &v4, 4);
    max_prefix = 32;
    offset = 96;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.net_.data()) != 1) {
    return std::nullopt;
  }
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const auto p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc{} || end != p.data() + p.size() || p.empty() || prefix > max_prefix)
      return std::nullopt;
  }
  c.prefix_ = prefix + offset;
  // Clear host bits so "10.1.2.3/8" means 10.0.0.0/8, as iptables reads it.
  for (unsigned bit = c.prefix_; bit < 128; ++bit)
    c.net_[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  c.text_ = std::string(text);
  return c;
}

bool Cidr::contains(const std::array<std::uint8_t, 16>& a) const {
  const unsigned full = prefix_ / 8;
  if (std::memcmp(a.data(), net_.data(), full) != 0) return false;
  if (const unsigned rest = prefix_ % 8; rest != 0) {
    const auto mask = static_cast<std::uint8_t>(0xffu << (8 - rest));
    return (a[full] & mask) == net_[full];
  }
  return true;
}

}  // namespace smtp::config
