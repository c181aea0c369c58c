// What a SIGHUP changes now, and what only a restart changes (SPEC section 9, "Reload").
#pragma once

#include "config/config.hpp"

#include <string>
#include <vector>

namespace smtp::daemon {

// Sets each restart-only setting of `fresh` back to its value in `current`, and returns
// the name of every one that differed, for a warning. Listeners are matched by name;
// each keeps its place, so running sessions and the acceptors stay valid. What remains
// in `fresh` applies to sessions that start after the reload.
std::vector<std::string> keep_restart_only(const config::Config& current, config::Config& fresh);

}  // namespace smtp::daemon
