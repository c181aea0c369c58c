// Durations ("30s", "10m", "2d") and sizes ("64KiB", "100MiB") as written in the YAML.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtp::config {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);
std::string format_duration(std::chrono::milliseconds d);
std::string format_size(std::uint64_t bytes);

}  // namespace smtp::config
