// A small base64 decoder for AUTH responses, so proto stays free of dependencies.
#pragma once

#include <cstddef>
#include <string_view>

namespace smtp::proto {

// Decodes `in` (standard alphabet, padding optional) into out[0..cap), stopping when out is full.
// Returns the bytes written; `ok` is false when `in` holds a byte outside the alphabet or a lone
// trailing character.
std::size_t base64_decode(std::string_view in, char* out, std::size_t cap, bool& ok) noexcept;

// Overwrites memory that held a secret in a way the optimiser may not drop.
void secure_wipe(void* p, std::size_t n) noexcept;

}  // namespace smtp::proto
