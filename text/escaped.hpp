// Peer text on its way into a transcript line, formatted with fmt: control bytes as \xNN.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace smtp::text {

// Control bytes (CR, ESC, NUL, DEL, ...) are written as \xNN, so a client or server can
// neither forge a line under another LCID nor send escape sequences to an
// administrator's terminal. Tabs and bytes of 0x80 and above pass as they are.
struct Escaped {
  std::string_view text;
};

}  // namespace smtp::text

template <>
struct fmt::formatter<smtp::text::Escaped> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const smtp::text::Escaped& e, Context& ctx) const {
    auto out = ctx.out();
    static constexpr char hex[] = "0123456789abcdef";
    for (const char ch : e.text) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x20 && c != 0x7f) {
        *out++ = ch;
      } else if (c == '\t') {
        *out++ = '\t';
      } else {
        *out++ = '\\';
        *out++ = 'x';
        *out++ = hex[c >> 4];
        *out++ = hex[c & 15];
      }
    }
    return out;
  }
};
