#include "proto/base64.hpp"

#include <array>
#include <cstdint>

namespace smtp::proto {
namespace {

constexpr std::array<std::int8_t, 256> make_table() noexcept {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}

constexpr auto table = make_table();

}  // namespace

std::size_t base64_decode(std::string_view in, char* out, std::size_t cap, bool& ok) noexcept {
  ok = true;
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char ch : in) {
    const int v = table[static_cast<unsigned char>(ch)];
    if (v < 0) {
      ok = false;
      return n;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n == cap) return n;
      out[n++] = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (in.size() % 4 == 1) ok = false;  // six bits cannot end a byte
  return n;
}

void secure_wipe(void* p, std::size_t n) noexcept {
  volatile unsigned char* v = static_cast<volatile unsigned char*>(p);
  while (n-- > 0) *v++ = 0;
}

}  // namespace smtp::proto
