// The first few distinct usernames a key tried, kept for the alert's "users".
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::detect {

// The names sit back to back in one string, so a tracked IP costs at most one growing
// buffer for them (none at all for short names) instead of a vector and a string per name.
// A short hash of each name is kept inline, so that checking whether a name is new rarely
// reads that buffer, which would be one more cache miss per event. Once full the sample
// stays fixed: a spraying IP costs nothing more per attempt.
class UserSample {
 public:
  static constexpr std::size_t kMax = 5;
  static constexpr std::size_t kMaxName = 256;  // longer names are cut

  void add(std::string_view user) {
    if (user.empty() || size_ >= kMax) return;
    user = user.substr(0, kMaxName);
    const auto hash = static_cast<std::uint32_t>(std::hash<std::string_view>{}(user));
    for (std::size_t i = 0; i < size_; ++i)
      if (hashes_[i] == hash && at(i) == user) return;
    names_.append(user);
    hashes_[size_] = hash;
    ends_[size_++] = static_cast<std::uint16_t>(names_.size());
  }

  std::size_t size() const { return size_; }
  std::string_view at(std::size_t i) const {
    const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(names_).substr(begin, ends_[i] - begin);
  }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    out.reserve(size_);
    for (std::size_t i = 0; i < size_; ++i) out.emplace_back(at(i));
    return out;
  }

 private:
  std::string names_;
  std::array<std::uint32_t, kMax> hashes_{};
  std::array<std::uint16_t, kMax> ends_{};  // where each name ends in names_; 5 x 256 fits
  std::uint8_t size_ = 0;
};

}  // namespace smtp::detect
