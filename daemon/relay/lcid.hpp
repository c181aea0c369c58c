// Log correlation IDs: one per connection, unique across restarts.
#pragma once

#include <cstdint>

namespace smtp::daemon {

// Seeded from the wall clock in milliseconds since 2025-01-01, so a restarted daemon
// starts above every LCID the previous run handed out unless that run averaged more
// than 1,000 connections a second over its whole life. No state file is needed.
std::uint64_t next_lcid();

}  // namespace smtp::daemon
