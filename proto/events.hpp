// Event payloads the decoder hands to its callbacks. Every string_view is valid only during the callback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/smtp_verbs.hpp"

namespace smtp::proto {

enum class Dir : std::uint8_t { client_to_server, server_to_client };

struct Limits {
  std::size_t max_line = 4096;   // bytes of one line kept; the rest is counted and flagged
  std::size_t max_pending = 64;  // client lines awaiting a reply; beyond this they are counted, not kept
};

struct Options {
  bool data_lines = false;             // cut message content into on_data_line() events
  bool decode_after_starttls = false;  // the caller terminates TLS and keeps feeding plaintext
};

enum class Body : std::uint8_t { none, seven_bit, eight_bit_mime, binary_mime, other };

// Arguments of MAIL FROM and RCPT TO.
struct MailArgs {
  bool valid = false;          // "FROM:" / "TO:" and a path were recognised
  bool null_path = false;      // "<>"
  std::string_view address;    // without angle brackets and source route
  std::string_view domain;     // after the last '@'; empty when there is none
  bool has_size = false;       // SIZE=
  std::uint64_t size = 0;
  Body body = Body::none;      // BODY=
  bool smtputf8 = false;       // SMTPUTF8
};

enum class AuthMechanism : std::uint8_t { none, plain, login, cram_md5, xoauth2, other };
inline constexpr std::size_t auth_mechanism_count = static_cast<std::size_t>(AuthMechanism::other) + 1;

enum class LineKind : std::uint8_t {
  command,        // an SMTP command, reported through on_command()
  auth_response,  // a client line inside an AUTH exchange, reported through on_auth_response()
  end_of_data,    // the "." ending DATA content; pairs with the end-of-data reply
};

// One client line. For kind != command only kind, verb, rendering, length and the framing flags are set.
struct Command {
  LineKind kind = LineKind::command;
  Verb verb = Verb::other;
  std::string_view verb_text;   // the first word as sent
  std::string_view args;        // text after the verb; for AUTH only a known mechanism name, never a credential
  std::string_view rendering;   // the line as a transcript may show it: credentials are "[redacted]"
  MailArgs mail;                // MAIL and RCPT
  AuthMechanism auth_mechanism = AuthMechanism::none;  // AUTH
  bool auth_initial_response = false;
  bool bdat_valid = false;      // BDAT had a parseable size (and nothing but LAST after it)
  bool bdat_last = false;
  std::uint64_t bdat_size = 0;
  std::uint64_t length = 0;     // bytes on the wire, terminator included (kept or not)
  bool over_long = false;       // longer than max_line; rendering keeps the first max_line bytes
  bool bare_lf = false;         // ended by LF without CR
  bool bare_cr = false;         // holds a CR that is not part of CRLF
  bool non_ascii = false;       // holds bytes outside printable ASCII (tab aside)
  bool invalid = false;         // a bad command by itself: over-long, bare LF or CR, or a non-ASCII verb
};

// What a reply answers; used for permanent failures by stage.
enum class Stage : std::uint8_t { connect, helo, mail, rcpt, data, eod, auth, starttls, other, unknown };

struct Reply {
  std::uint16_t code = 0;       // 200..599
  std::string_view enhanced;    // RFC 3463 code of the first line ("5.7.8"), or empty
  std::string_view text;        // every line as sent (code included), without terminators, joined by '\n'
  std::uint32_t lines = 0;
  bool greeting = false;        // the banner: it pairs with the connection, so paired is nullptr
  Stage stage = Stage::unknown; // connect for the greeting, unknown when nothing was paired
  bool bad_command = false;     // 500-504 answering a command not already counted as invalid
  bool malformed = false;       // a continuation line was invalid or changed the code
  bool truncated = false;       // text keeps only the first max_line bytes

  constexpr int klass() const noexcept { return code / 100; }
  // A 5xx to MAIL, RCPT, DATA or end-of-data: a "termination" in SPEC terms.
  constexpr bool permanent_failure() const noexcept {
    return klass() == 5 &&
           (stage == Stage::mail || stage == Stage::rcpt || stage == Stage::data || stage == Stage::eod);
  }
};

enum class Transfer : std::uint8_t { data, bdat };

// The client finished sending DATA content, or one BDAT chunk.
struct ContentInfo {
  Transfer via = Transfer::data;
  std::uint64_t bytes = 0;       // DATA: message bytes after un-stuffing; BDAT: the chunk size
  std::uint64_t wire_bytes = 0;  // DATA: bytes sent, dot-stuffing and the final ".\r\n" included
  bool last = true;              // DATA, or BDAT ... LAST
};

// A DATA or BDAT transaction got its end-of-data reply.
struct MessageInfo {
  Transfer via = Transfer::data;
  std::uint64_t size = 0;        // message bytes (DATA un-stuffed, BDAT the sum of its chunks)
  std::uint64_t wire_bytes = 0;
  std::uint32_t chunks = 1;      // BDAT chunks; 1 for DATA
  std::uint16_t reply_code = 0;
  std::string_view enhanced;
  bool accepted = false;         // the end-of-data reply was 2xx
  std::uint32_t recipients = 0;  // RCPTs accepted with 2xx in this transaction
  std::string_view sender;       // reverse-path of the accepted MAIL; empty for <> or when none was seen
  std::string_view sender_domain;
  bool null_sender = false;
  bool smuggling = false;        // the content held an end-of-data look-alike
};

enum class AuthResult : std::uint8_t { success, failure, unadvertised, aborted };
inline constexpr std::size_t auth_result_count = static_cast<std::size_t>(AuthResult::aborted) + 1;

struct AuthAttempt {
  AuthMechanism mechanism = AuthMechanism::none;
  std::string_view mechanism_name;  // upper case; empty when the client's word was not a known SASL name
  std::string_view username;        // PLAIN authcid, LOGIN first response, CRAM-MD5, XOAUTH2 user=; never a secret
  AuthResult result = AuthResult::failure;
  std::uint16_t reply_code = 0;     // final reply; 0 when the session ended first
  std::string_view enhanced;
  bool advertised = false;          // the last EHLO reply offered AUTH
  std::uint32_t responses = 0;      // client responses, the initial response included
};

constexpr std::string_view to_string(AuthMechanism m) noexcept {
  switch (m) {
    case AuthMechanism::none: return "none";
    case AuthMechanism::plain: return "PLAIN";
    case AuthMechanism::login: return "LOGIN";
    case AuthMechanism::cram_md5: return "CRAM-MD5";
    case AuthMechanism::xoauth2: return "XOAUTH2";
    case AuthMechanism::other: return "other";
  }
  return "other";
}

constexpr std::string_view to_string(AuthResult r) noexcept {
  switch (r) {
    case AuthResult::success: return "success";
    case AuthResult::failure: return "failure";
    case AuthResult::unadvertised: return "unadvertised";
    case AuthResult::aborted: return "aborted";
  }
  return "failure";
}

constexpr std::string_view to_string(Stage s) noexcept {
  switch (s) {
    case Stage::connect: return "connect";
    case Stage::helo: return "helo";
    case Stage::mail: return "mail";
    case Stage::rcpt: return "rcpt";
    case Stage::data: return "data";
    case Stage::eod: return "eod";
    case Stage::auth: return "auth";
    case Stage::starttls: return "starttls";
    case Stage::other: return "other";
    case Stage::unknown: return "unknown";
  }
  return "unknown";
}

constexpr std::string_view to_string(Transfer t) noexcept { return t == Transfer::data ? "data" : "bdat"; }

constexpr std::string_view to_string(Body b) noexcept {
  switch (b) {
    case Body::none: return "";
    case Body::seven_bit: return "7BIT";
    case Body::eight_bit_mime: return "8BITMIME";
    case Body::binary_mime: return "BINARYMIME";
    case Body::other: return "other";
  }
  return "other";
}

}  // namespace smtp::proto
