#include "fleet/share_codec.hpp"

#include "fleet/copy_rows.hpp"

#include <charconv>

namespace smtp::fleet {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

}  // namespace

void append_event_row(std::string& out, std::string_view sensor, const detect::DetectorEvent& e) {
  append_copy_text(out, sensor);
  out += '\t';
  out += std::to_string(e.ts_ms);
  out += '\t';
  out += std::to_string(static_cast<int>(e.kind));
  // COPY's text format takes a backslash as an escape, so bytea's "\x" is written "\\x".
  out += "\t\\\\x";
  for (const auto b : e.ip) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  out += '\t';
  append_copy_text(out, std::string_view(e.user).substr(0, detect::kMaxSharedUser));
  out += '\n';
}

std::optional<detect::DetectorEvent> decode_event(std::string_view ts_ms, std::string_view kind, std::string_view ip_hex,
                                                  std::string_view user) {
  detect::DetectorEvent e;
  int k = 0;
  if (!parse_number(ts_ms, e.ts_ms) || !parse_number(kind, k)) return std::nullopt;
  const auto known = detect::event_kind(k);
  if (!known) return std::nullopt;
  e.kind = *known;
  if (ip_hex.size() != 2 * e.ip.size()) return std::nullopt;
  for (std::size_t i = 0; i < e.ip.size(); ++i) {
    const int hi = hex_value(ip_hex[2 * i]), lo = hex_value(ip_hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    e.ip[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  e.user = std::string(user.substr(0, detect::kMaxSharedUser));
  return e;
}

}  // namespace smtp::fleet
