#include "config/units.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <utility>

namespace smtp::config {
namespace {

// Splits "30s" into 30 and "s"; the number must come first and be whole.
std::optional<std::pair<std::uint64_t, std::string_view>> split(std::string_view t) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc{} || end == t.data()) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(t.data() + t.size() - end));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return std::pair{n, unit};
}

template <std::size_t N>
std::optional<std::uint64_t> scaled(std::string_view text,
                                    const std::array<std::pair<std::string_view, std::uint64_t>, N>& units,
                                    bool unit_required) {
  const auto parts = split(text);
  if (!parts) return std::nullopt;
  const auto [n, unit] = *parts;
  if (unit.empty()) return unit_required ? std::nullopt : std::optional<std::uint64_t>(n);
  for (const auto& [name, factor] : units)
    if (unit == name) {
      if (n > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
      return n * factor;
    }
  return std::nullopt;
}

constexpr std::array<std::pair<std::string_view, std::uint64_t>, 6> kDurations{{
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}, {"w", 604'800'000}}};
constexpr std::array<std::pair<std::string_view, std::uint64_t>, 8> kSizes{{
    {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
    {"KB", 1000}, {"MB", 1'000'000}, {"GB", 1'000'000'000}, {"k", 1000}}};

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  // A bare number would be ambiguous (seconds? milliseconds?), so a unit is required.
  const auto ms = scaled(text, kDurations, /*unit_required=*/true);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  return scaled(text, kSizes, /*unit_required=*/false);
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = static_cast<std::uint64_t>(d.count());
  if (ms == 0) return "0s";
  for (auto it = kDurations.rbegin(); it != kDurations.rend(); ++it)
    if (it->first != "w" && ms % it->second == 0) return std::to_string(ms / it->second) + std::string(it->first);
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  for (std::string_view u : {"GiB", "MiB", "KiB"}) {
    for (const auto& [name, factor] : kSizes)
      if (name == u && bytes != 0 && bytes % factor == 0) return std::to_string(bytes / factor) + std::string(u);
  }
  return std::to_string(bytes);
}

}  // namespace smtp::config
