// Peer text on its way into a transcript line: control bytes as \xNN.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace smtp::text {

// Control bytes (CR, ESC, NUL, DEL, ...) are written as \xNN, so a client or server can
// neither forge a line under another LCID nor send escape sequences to an
// administrator's terminal. Tabs and bytes of 0x80 and above pass as they are.
struct Escaped {
  std::string_view text;
};

// Hands `take` each stretch of `text` that passes as it is and each "\xNN" between them:
// a command line is one stretch, copied whole rather than a byte at a time.
template <class Take>
void for_each_escaped(std::string_view text, Take&& take) {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t from = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c >= 0x20 && c != 0x7f) || c == '\t') continue;
    if (i > from) take(text.substr(from, i - from));
    const char escape[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
    take(std::string_view(escape, sizeof escape));
    from = i + 1;
  }
  if (from < text.size()) take(text.substr(from));
}

inline void append_escaped(fmt::memory_buffer& out, std::string_view text) {
  for_each_escaped(text, [&out](std::string_view s) { out.append(s.data(), s.data() + s.size()); });
}

}  // namespace smtp::text

template <>
struct fmt::formatter<smtp::text::Escaped> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const smtp::text::Escaped& e, Context& ctx) const {
    auto out = ctx.out();
    smtp::text::for_each_escaped(e.text, [&out](std::string_view s) { out = std::copy(s.begin(), s.end(), out); });
    return out;
  }
};
