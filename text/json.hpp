// The one JSON string writer: peer text (user names, HELO, details) made safe for JSON.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace smtp::text {

// Appends s as a JSON string literal. Valid UTF-8 is written as it is, so "jürgen"
// reads "jürgen" in jq and in the report alike; each byte that is not part of a valid
// UTF-8 sequence (overlong forms, surrogates, stray continuation bytes) becomes U+FFFD,
// so a line always parses for fail2ban, Vector or Loki. Control bytes and DEL are
// written as \u00XX (\n, \r, \t, \" and \\ in their short forms).
void append_json_string(std::string& out, std::string_view s);

inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// "2026-11-23T07:37:25.923Z"
std::string iso8601_utc(std::chrono::system_clock::time_point t);

// The length of the valid UTF-8 sequence at the start of s, or 0 when its first byte
// does not start one (RFC 3629: no overlong forms, surrogates or values past U+10FFFF).
std::size_t utf8_sequence(std::string_view s);

// At most `max` bytes of s, never ending inside a valid UTF-8 sequence: a quote cut short
// for a detail keeps "ü" whole or leaves it out, rather than leave half for U+FFFD.
std::string_view utf8_prefix(std::string_view s, std::size_t max);

}  // namespace smtp::text
