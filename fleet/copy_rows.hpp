// Sessions as lines of PostgreSQL's COPY text format, in the fleet sessions table's column
// order: the shipper's batch, pure so that it is tested without a server.
#pragma once

#include "store/session_record.hpp"

#include <string>
#include <string_view>

namespace smtp::fleet {

// The sessions table's columns in COPY order (fleet/schema.cpp, migration 1).
inline constexpr const char* kSessionColumns =
    "sensor, lcid, start_ms, end_ms, listener, client_ip, client_port, upstream, helo, tls, tls_version, tls_cipher, "
    "auth_user, auth_result, domain, messages, recipients, commands, bad_commands, permanent_failures, termination, "
    "blocked, bytes_in, bytes_out, direction, user_name";

// Appends s as one COPY text field: a database in UTF-8 refuses invalid UTF-8 and NUL,
// which a peer may send in HELO or AUTH, so each such byte becomes U+FFFD; backslash,
// tab, LF and CR are escaped.
void append_copy_text(std::string& out, std::string_view s);

// Appends one session as a COPY line (ending in '\n').
void append_copy_row(std::string& out, std::string_view sensor, const store::SessionRecord& r);

}  // namespace smtp::fleet
