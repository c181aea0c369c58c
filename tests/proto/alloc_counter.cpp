// Replaces the global operator new/delete of the test binary; kept in its own file so the compiler
// cannot pair these definitions with inlined library allocations and warn.
#include "alloc_counter.hpp"

#include <cstdlib>
#include <new>

namespace alloc {
std::size_t count = 0;
std::size_t live = 0;
std::size_t peak = 0;
}  // namespace alloc

namespace {
constexpr std::size_t header = 16;  // keeps the user block 16-byte aligned and remembers its size
}

void* operator new(std::size_t n) {
  auto* p = static_cast<std::size_t*>(std::malloc(n + header));
  if (p == nullptr) throw std::bad_alloc();
  *p = n;
  ++alloc::count;
  alloc::live += n;
  if (alloc::live > alloc::peak) alloc::peak = alloc::live;
  return reinterpret_cast<char*>(p) + header;
}

void* operator new[](std::size_t n) { return operator new(n); }

void operator delete(void* q) noexcept {
  if (q == nullptr) return;
  auto* p = reinterpret_cast<std::size_t*>(static_cast<char*>(q) - header);
  alloc::live -= *p;
  std::free(p);
}

void operator delete[](void* q) noexcept { operator delete(q); }
void operator delete(void* q, std::size_t) noexcept { operator delete(q); }
void operator delete[](void* q, std::size_t) noexcept { operator delete(q); }
