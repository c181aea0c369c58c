// Parses one client command line: the verb, and the arguments of MAIL, RCPT, AUTH and BDAT.
#pragma once

#include <cstddef>
#include <string_view>

#include "proto/events.hpp"

namespace smtp::proto {

// Separators between the verb and its arguments, and between arguments: RFC 5321 says SP, but servers
// tokenize with isspace(), so "AUTH<TAB>PLAIN<TAB>blob" is AUTH to them. (LF never reaches a line.)
constexpr bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
std::size_t find_space(std::string_view s) noexcept;  // npos when there is none
std::string_view trim_space(std::string_view s) noexcept;

// Fills verb, verb_text, args, mail, auth_* and bdat_* of `c`; framing flags are the caller's.
// Returns true when the verb holds bytes outside printable ASCII. Keeps no credential in `c`.
bool parse_command(std::string_view line, Command& c) noexcept;

// A first word that is AUTH glued to a byte outside printable ASCII ("AUTH\0PLAIN"): some server may end
// the verb there, so the rest of the line is treated as a credential (no args, rendered redacted).
bool looks_like_auth(std::string_view verb_text) noexcept;

MailArgs parse_path(std::string_view args, std::string_view prefix) noexcept;  // prefix "FROM:" or "TO:"

// AUTH arguments: the mechanism word and what follows it (the initial response, a secret).
void split_auth(std::string_view args, std::string_view& mechanism, std::string_view& initial_response) noexcept;
AuthMechanism parse_auth_mechanism(std::string_view name) noexcept;
// Known SASL mechanism names are safe to show; any other word after AUTH may be a credential.
bool is_known_sasl_mechanism(std::string_view name) noexcept;

// Bytes outside printable ASCII, tab and CR aside (a stray CR is reported as bare_cr instead).
bool has_non_ascii(std::string_view s) noexcept;
bool iequals(std::string_view a, std::string_view b) noexcept;  // ASCII case-insensitive
bool parse_u64(std::string_view digits, std::uint64_t& out) noexcept;

}  // namespace smtp::proto
