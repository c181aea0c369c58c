// What makes a line or a reply count for the probe detectors (SPEC 15). Pure string tests.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string_view>

namespace smtp::detect {

namespace probe_detail {
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
inline bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}
}  // namespace probe_detail

// non_smtp: an HTTP request line or header, or a POP3/IMAP login, where an SMTP command
// should be. `line` is the client's line as sent, without its terminator.
inline bool looks_non_smtp(std::string_view line) {
  using probe_detail::iequals;
  const auto sp = line.find(' ');
  const std::string_view first = line.substr(0, sp);
  const std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  // HTTP methods are case-sensitive; a request line names a target after them.
  static constexpr std::array<std::string_view, 6> kMethods{"GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS"};
  if (!rest.empty() && std::find(kMethods.begin(), kMethods.end(), first) != kMethods.end()) return true;
  if (iequals(first, "Host:") || iequals(first, "User-Agent:")) return true;
  if (iequals(first, "USER") || iequals(first, "PASS")) return true;  // POP3
  // IMAP: a tag of letters and digits, at least one digit (a1, A001: never an SMTP verb
  // such as AUTH), then LOGIN.
  const auto sp2 = rest.find(' ');
  return !first.empty() && iequals(rest.substr(0, sp2), "LOGIN") &&
         std::all_of(first.begin(), first.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }) &&
         std::any_of(first.begin(), first.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

enum class RcptRefusal : std::uint8_t { none, unknown_user, relay };

// A reply to RCPT: refused as relaying (5xx whose text says "relay"), or as an unknown
// user (5xx with enhanced status 5.1.x, or 550 whose text says the user is unknown).
inline RcptRefusal classify_rcpt_refusal(std::uint16_t code, std::string_view enhanced, std::string_view text) {
  using probe_detail::icontains;
  if (code < 500 || code > 599) return RcptRefusal::none;
  if (icontains(text, "relay")) return RcptRefusal::relay;
  if (enhanced.starts_with("5.1.")) return RcptRefusal::unknown_user;
  if (code == 550 && (icontains(text, "unknown") || icontains(text, "no such user") ||
                      icontains(text, "does not exist") || icontains(text, "not found")))
    return RcptRefusal::unknown_user;
  return RcptRefusal::none;
}

// The words that make a remote server's 5xx to EHLO or MAIL a block-list refusal on an
// outbound listener (SPEC 14): it refuses us, the sending host, not one message. Matched
// case-insensitively anywhere in the reply's text ("listed" covers "blacklisted" and
// "listed at zen.spamhaus.org").
inline constexpr std::array<std::string_view, 11> kBlockListWords{"spamhaus",  "spamcop",    "barracuda", "blocked",
                                                                  "blacklist", "blocklist",  "block list", "denylist",
                                                                  "listed",    "rbl",        "dnsbl"};

inline bool names_block_list(std::string_view text) {
  return std::any_of(kBlockListWords.begin(), kBlockListWords.end(),
                     [&](std::string_view w) { return probe_detail::icontains(text, w); });
}

}  // namespace smtp::detect
