// Finds the next '.' that begins a line in DATA content, many bytes per step, for the DataScanner.
#pragma once

#include <cstddef>

namespace smtp::proto::line_dot {

// First d in [from, n) with p[d] == '.' right after a CR or LF (p[d - 1]); n when there is none.
// `from` >= 1: the byte before it is looked at. Text has a dot every few dozen bytes but a
// line-leading one rarely, so each variant looks for the pair at once.
std::size_t find(const char* p, std::size_t from, std::size_t n) noexcept;  // the best this CPU runs

// The variants, for the tests: 16 bytes a step with SSE2 (8 with SWAR where there is none), and
// 64 with AVX2, which only a CPU that has it may run (avx2()). The scan of a 1 MB body was 8 % of
// the sensor's CPU relaying it at 16 bytes a step (bench/README.md, issue 20, sixth pass).
std::size_t find_portable(const char* p, std::size_t from, std::size_t n) noexcept;
std::size_t find_avx2(const char* p, std::size_t from, std::size_t n) noexcept;
bool avx2() noexcept;

}  // namespace smtp::proto::line_dot
