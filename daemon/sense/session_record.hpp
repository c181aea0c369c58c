// One session as the store keeps it and as /sessions shows it.
#pragma once

#include "daemon/sense/session_facts.hpp"
#include "daemon/session_types.hpp"
#include "store/session_store.hpp"

#include <chrono>
#include <string>

namespace smtp::daemon {

store::SessionRecord make_record(const SessionFacts& f, std::string domain, std::string_view user, Termination reason,
                                 std::chrono::system_clock::time_point ended);

// One JSON object for GET /sessions.
void append_session_json(std::string& out, const SessionFacts& f);

}  // namespace smtp::daemon
