#include "proto/line_dot.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__) && !defined(SMTP_PROTO_NO_SIMD)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && !defined(SMTP_PROTO_NO_SIMD)
#define SMTP_PROTO_AVX2 1
#include <immintrin.h>
#endif

namespace smtp::proto::line_dot {
namespace {

#if !defined(__SSE2__) || defined(SMTP_PROTO_NO_SIMD)
// SWAR: the high bit of each byte of `x` that is zero, exactly (no false positives from borrows).
constexpr std::uint64_t zero_bytes(std::uint64_t x) noexcept {
  constexpr std::uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
  return ~(((x & low7) + low7) | x | low7);
}
#endif

#ifdef SMTP_PROTO_AVX2
// Decided once, before main: the dispatch in find() is then a load of a constant.
const bool kAvx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();

// The pairs (a[i], b[i]) = (CR or LF, '.') among 32, as bits.
__attribute__((target("avx2"))) inline std::uint64_t pairs32(const char* at) noexcept {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + 1));
  const __m256i eol = _mm256_or_si256(_mm256_cmpeq_epi8(a, _mm256_set1_epi8('\r')),
                                      _mm256_cmpeq_epi8(a, _mm256_set1_epi8('\n')));
  const __m256i hit = _mm256_and_si256(eol, _mm256_cmpeq_epi8(b, _mm256_set1_epi8('.')));
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(hit));
}
#endif

}  // namespace

std::size_t find_portable(const char* p, std::size_t from, std::size_t n) noexcept {
  std::size_t j = from - 1;  // candidate pair (j, j + 1)
#if defined(__SSE2__) && !defined(SMTP_PROTO_NO_SIMD)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i dot = _mm_set1_epi8('.');
  for (; j + 17 <= n; j += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j + 1));
    const __m128i eol = _mm_or_si128(_mm_cmpeq_epi8(a, cr), _mm_cmpeq_epi8(a, lf));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(eol, _mm_cmpeq_epi8(b, dot))));
    if (mask != 0) return j + 1 + static_cast<std::size_t>(std::countr_zero(mask));
  }
#else
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  for (; j + 9 <= n; j += 8) {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, p + j, 8);
    std::memcpy(&b, p + j + 1, 8);
    const std::uint64_t dots = zero_bytes(b ^ (ones * '.'));
    if (dots == 0) continue;  // most words hold no dot at all
    const std::uint64_t m = (zero_bytes(a ^ (ones * '\r')) | zero_bytes(a ^ (ones * '\n'))) & dots;
    if (m != 0) {
      const int bit = std::endian::native == std::endian::little ? std::countr_zero(m) : std::countl_zero(m);
      return j + 1 + static_cast<std::size_t>(bit / 8);
    }
  }
#endif
  for (; j + 1 < n; ++j)
    if ((p[j] == '\r' || p[j] == '\n') && p[j + 1] == '.') return j + 1;
  return n;
}

#ifdef SMTP_PROTO_AVX2
__attribute__((target("avx2"))) std::size_t find_avx2(const char* p, std::size_t from, std::size_t n) noexcept {
  std::size_t j = from - 1;  // candidate pair (j, j + 1)
  for (; j + 65 <= n; j += 64) {  // two vectors a step: half the branches
    const std::uint64_t m = pairs32(p + j) | (pairs32(p + j + 32) << 32);
    if (m != 0) return j + 1 + static_cast<std::size_t>(std::countr_zero(m));
  }
  return find_portable(p, j + 1, n);
}
bool avx2() noexcept { return kAvx2; }
std::size_t find(const char* p, std::size_t from, std::size_t n) noexcept {
  return kAvx2 ? find_avx2(p, from, n) : find_portable(p, from, n);
}
#else
std::size_t find_avx2(const char* p, std::size_t from, std::size_t n) noexcept { return find_portable(p, from, n); }
bool avx2() noexcept { return false; }
std::size_t find(const char* p, std::size_t from, std::size_t n) noexcept { return find_portable(p, from, n); }
#endif

}  // namespace smtp::proto::line_dot
