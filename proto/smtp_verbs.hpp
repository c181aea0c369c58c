// SMTP command verbs as one X-macro list, so the enum, the names and the parser cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

// X(identifier, wire name). Verb::other follows the list for everything unknown.
#define SMTP_PROTO_VERBS(X) \
  X(ehlo, "EHLO")           \
  X(helo, "HELO")           \
  X(mail, "MAIL")           \
  X(rcpt, "RCPT")           \
  X(data, "DATA")           \
  X(bdat, "BDAT")           \
  X(auth, "AUTH")           \
  X(starttls, "STARTTLS")   \
  X(rset, "RSET")           \
  X(noop, "NOOP")           \
  X(quit, "QUIT")           \
  X(vrfy, "VRFY")           \
  X(expn, "EXPN")           \
  X(help, "HELP")           \
  X(etrn, "ETRN")           \
  X(xclient, "XCLIENT")

namespace smtp::proto {

enum class Verb : std::uint8_t {
#define SMTP_PROTO_VERB_ENUM(id, name) id,
  SMTP_PROTO_VERBS(SMTP_PROTO_VERB_ENUM)
#undef SMTP_PROTO_VERB_ENUM
      other,
};

inline constexpr std::size_t verb_count = static_cast<std::size_t>(Verb::other) + 1;

// Upper-case wire names ("EHLO", ...); Verb::other is "other", as the metrics label wants it.
constexpr std::string_view to_string(Verb v) noexcept {
  switch (v) {
#define SMTP_PROTO_VERB_NAME(id, name) \
  case Verb::id:                       \
    return name;
    SMTP_PROTO_VERBS(SMTP_PROTO_VERB_NAME)
#undef SMTP_PROTO_VERB_NAME
    case Verb::other:
      return "other";
  }
  return "other";
}

// Case-insensitive match of a command's first word; anything unlisted is Verb::other.
Verb parse_verb(std::string_view word) noexcept;

}  // namespace smtp::proto
