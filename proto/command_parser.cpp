#include "proto/command_parser.hpp"

#include <array>
#include <cstdint>
#include <cstring>

namespace smtp::proto {
namespace {

constexpr char upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

std::string_view next_word(std::string_view& s) noexcept {
  s = trim_space(s);
  const auto sp = find_space(s);
  const auto word = s.substr(0, sp);
  s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp);
  return word;
}

void parse_mail_params(std::string_view rest, MailArgs& m) noexcept {
  for (auto word = next_word(rest); !word.empty(); word = next_word(rest)) {
    const auto eq = word.find('=');
    const auto key = word.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view{} : word.substr(eq + 1);
    if (iequals(key, "SIZE")) {
      m.has_size = parse_u64(value, m.size);
    } else if (iequals(key, "BODY")) {
      if (iequals(value, "7BIT")) m.body = Body::seven_bit;
      else if (iequals(value, "8BITMIME")) m.body = Body::eight_bit_mime;
      else if (iequals(value, "BINARYMIME")) m.body = Body::binary_mime;
      else m.body = Body::other;
    } else if (iequals(key, "SMTPUTF8")) {
      m.smtputf8 = true;
    }
  }
}

void parse_bdat(std::string_view args, Command& c) noexcept {
  args = trim_space(args);
  const auto sp = find_space(args);
  if (!parse_u64(args.substr(0, sp), c.bdat_size)) return;
  const auto rest = sp == std::string_view::npos ? std::string_view{} : trim_space(args.substr(sp));
  if (rest.empty()) {
    c.bdat_valid = true;
  } else if (iequals(rest, "LAST")) {
    c.bdat_valid = c.bdat_last = true;
  }
}

}  // namespace

std::size_t find_space(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (is_space(s[i])) return i;
  return std::string_view::npos;
}

std::string_view trim_space(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (upper(a[i]) != upper(b[i])) return false;
  return true;
}

bool parse_u64(std::string_view digits, std::uint64_t& out) noexcept {
  if (digits.empty() || digits.size() > 19) return false;  // 19 digits always fit in 64 bits
  std::uint64_t v = 0;
  for (const char ch : digits) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  out = v;
  return true;
}

namespace {

constexpr bool odd_byte(unsigned char u) noexcept { return u >= 0x7f || (u < 0x20 && u != '\t' && u != '\r'); }

// Up to 8 bytes packed little-end first, so a word compares as one integer.
constexpr std::uint64_t pack(std::string_view s) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < s.size() && i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i])) << (8 * i);
  return v;
}

struct VerbKey {
  std::uint64_t packed;
  std::size_t size;
  Verb verb;
};

constexpr VerbKey verb_keys[] = {
#define SMTP_PROTO_VERB_KEY(id, name) {pack(name), std::string_view(name).size(), Verb::id},
    SMTP_PROTO_VERBS(SMTP_PROTO_VERB_KEY)
#undef SMTP_PROTO_VERB_KEY
};

}  // namespace

bool has_non_ascii(std::string_view s) noexcept {
  // Eight bytes at a time: any byte >= 0x7f or < 0x20 sends the word to the exact per-byte test.
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t high = 0x8080808080808080ULL;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, 8);
    const std::uint64_t suspicious = ((w - ones * 0x20) | (w + ones * 0x01)) & high;  // < 0x20, or >= 0x7f
    if (suspicious != 0)
      for (std::size_t k = i; k < i + 8; ++k)
        if (odd_byte(static_cast<unsigned char>(s[k]))) return true;
  }
  for (; i < s.size(); ++i)
    if (odd_byte(static_cast<unsigned char>(s[i]))) return true;
  return false;
}

Verb parse_verb(std::string_view word) noexcept {
  if (word.size() < 4 || word.size() > 8) return Verb::other;
  // Verbs are letters only, and for letters clearing bit 5 is exactly upper-casing.
  const std::uint64_t key = pack(word) & 0xDFDFDFDFDFDFDFDFULL;
  for (const auto& k : verb_keys)
    if (k.size == word.size() && k.packed == key) return k.verb;
  return Verb::other;
}

MailArgs parse_path(std::string_view a, std::string_view prefix) noexcept {
  MailArgs m;
  if (a.size() < prefix.size() || !iequals(a.substr(0, prefix.size()), prefix)) return m;
  a.remove_prefix(prefix.size());
  a = trim_space(a);  // "MAIL FROM: <x>" is common enough
  std::string_view addr;
  std::string_view rest;
  if (!a.empty() && a.front() == '<') {
    std::size_t i = a.find('>');
    if (i == std::string_view::npos || a.find('"') < i) {  // a quoted local part may hold '>'
      bool quoted = false;
      for (i = 1; i < a.size(); ++i) {
        const char ch = a[i];
        if (quoted) {
          if (ch == '\\') ++i;
          else if (ch == '"') quoted = false;
        } else if (ch == '"') {
          quoted = true;
        } else if (ch == '>') {
          break;
        }
      }
    }
    if (i >= a.size()) return m;  // no closing '>'
    addr = a.substr(1, i - 1);
    rest = a.substr(i + 1);
    m.null_path = addr.empty();
  } else {
    const auto sp = find_space(a);
    addr = a.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : a.substr(sp);
    if (addr.empty()) return m;
  }
  if (!addr.empty() && addr.front() == '@') {  // source route "@a,@b:user@c" (RFC 5321 appendix C)
    const auto colon = addr.find(':');
    addr = colon == std::string_view::npos ? std::string_view{} : addr.substr(colon + 1);
  }
  m.address = addr;
  const auto at = addr.rfind('@');
  if (at != std::string_view::npos) m.domain = addr.substr(at + 1);
  m.valid = true;
  parse_mail_params(rest, m);
  return m;
}

void split_auth(std::string_view args, std::string_view& mechanism, std::string_view& initial_response) noexcept {
  args = trim_space(args);
  const auto sp = find_space(args);
  mechanism = args.substr(0, sp);
  initial_response = sp == std::string_view::npos ? std::string_view{} : trim_space(args.substr(sp));
}

AuthMechanism parse_auth_mechanism(std::string_view name) noexcept {
  if (name.empty()) return AuthMechanism::none;
  if (iequals(name, "PLAIN")) return AuthMechanism::plain;
  if (iequals(name, "LOGIN")) return AuthMechanism::login;
  if (iequals(name, "CRAM-MD5")) return AuthMechanism::cram_md5;
  if (iequals(name, "XOAUTH2")) return AuthMechanism::xoauth2;
  return AuthMechanism::other;
}

bool is_known_sasl_mechanism(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 18> known = {
      "PLAIN",       "LOGIN",         "CRAM-MD5",         "XOAUTH2",       "XOAUTH",   "OAUTHBEARER",
      "DIGEST-MD5",  "NTLM",          "GSSAPI",           "EXTERNAL",      "ANONYMOUS", "SCRAM-SHA-1",
      "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "GS2-KRB5", "KERBEROS_V4", "SRP"};
  for (const auto k : known)
    if (iequals(name, k)) return true;
  return false;
}

bool looks_like_auth(std::string_view verb_text) noexcept {
  if (verb_text.size() < 5 || !iequals(verb_text.substr(0, 4), "AUTH")) return false;
  const auto u = static_cast<unsigned char>(verb_text[4]);
  return u < 0x21 || u > 0x7e;
}

bool parse_command(std::string_view line, Command& c) noexcept {
  const auto sp = find_space(line);
  c.verb_text = line.substr(0, sp);
  const auto args = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  c.verb = parse_verb(c.verb_text);
  bool bad_verb = false;
  for (const char ch : c.verb_text) {
    const auto u = static_cast<unsigned char>(ch);
    bad_verb |= (u < 0x21) | (u > 0x7e);
  }
  if (looks_like_auth(c.verb_text)) return bad_verb;  // what follows may be a credential: keep no args
  switch (c.verb) {
    case Verb::mail:
      c.args = args;
      c.mail = parse_path(args, "FROM:");
      break;
    case Verb::rcpt:
      c.args = args;
      c.mail = parse_path(args, "TO:");
      break;
    case Verb::auth: {
      std::string_view mech;
      std::string_view ir;
      split_auth(args, mech, ir);
      c.auth_mechanism = parse_auth_mechanism(mech);
      if (is_known_sasl_mechanism(mech)) {  // otherwise the word itself may be a credential
        c.args = mech;
        c.auth_initial_response = !ir.empty();
      }
      break;
    }
    case Verb::bdat:
      c.args = args;
      parse_bdat(args, c);
      break;
    default:
      c.args = args;
      break;
  }
  return bad_verb;
}

}  // namespace smtp::proto
