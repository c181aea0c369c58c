// Counts this test binary's heap allocations, so decoder tests can show what the decoder allocates.
#pragma once

#include <cstddef>

namespace alloc {
extern std::size_t count;  // operator new calls so far
extern std::size_t live;   // bytes allocated and not yet freed
extern std::size_t peak;   // highest `live` since last reset by the test
}  // namespace alloc
