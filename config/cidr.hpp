// An IPv4 or IPv6 network in CIDR notation, for allow, deny and trusted_proxies.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtp::config {

// IPv4 networks are held as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n), so one comparison
// covers both families and a v4-mapped peer address matches its v4 rule.
class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const std::array<std::uint8_t, 16>& v6_or_mapped) const;
  std::string text() const { return text_; }

 private:
  std::array<std::uint8_t, 16> net_{};
  unsigned prefix_ = 0;
  std::string text_;
};

}  // namespace smtp::config
