#include <doctest/doctest.h>

#include <string>

#include "proto/anomalies.hpp"
#include "proto/base64.hpp"
#include "proto/command_parser.hpp"

using namespace smtp::proto;

TEST_CASE("verbs: every name of the X-macro list parses back, in any case") {
  for (std::size_t i = 0; i + 1 < verb_count; ++i) {
    const auto v = static_cast<Verb>(i);
    const std::string name(to_string(v));
    CHECK(parse_verb(name) == v);
    std::string lower = name;
    for (auto& ch : lower) ch = static_cast<char>(ch | 0x20);
    CHECK(parse_verb(lower) == v);
  }
  CHECK(parse_verb("LHLO") == Verb::other);
  CHECK(parse_verb("") == Verb::other);
  CHECK(to_string(Verb::other) == "other");
  CHECK(to_string(Verb::starttls) == "STARTTLS");
}

TEST_CASE("anomaly names are the stable ones") {
  const char* names[] = {"pregreet",  "unmatched_reply",    "pipelining_after_data",      "long_line",
                         "bare_lf",   "bare_cr",            "non_ascii_command",          "excessive_pending_commands",
                         "bdat_overrun", "smuggling",       "starttls_injection",         "invalid_reply",
                         "sniffing_off"};
  REQUIRE(anomaly_count == std::size(names));
  for (std::size_t i = 0; i < anomaly_count; ++i) CHECK(to_string(static_cast<Anomaly>(i)) == names[i]);
}

TEST_CASE("MAIL and RCPT paths and parameters") {
  auto m = parse_path("FROM:<alice@Example.ORG> SIZE=12345 BODY=8BITMIME SMTPUTF8", "FROM:");
  CHECK(m.valid);
  CHECK(m.address == "alice@Example.ORG");
  CHECK(m.domain == "Example.ORG");
  CHECK(m.has_size);
  CHECK(m.size == 12345);
  CHECK(m.body == Body::eight_bit_mime);
  CHECK(m.smtputf8);

  m = parse_path("from: <b@c.d>", "FROM:");  // lenient spacing, as servers accept it
  CHECK(m.valid);
  CHECK(m.address == "b@c.d");

  m = parse_path("FROM:<>", "FROM:");
  CHECK(m.valid);
  CHECK(m.null_path);
  CHECK(m.address.empty());

  m = parse_path("TO:<@relay.example,@r2.example:user@final.example>", "TO:");
  CHECK(m.address == "user@final.example");
  CHECK(m.domain == "final.example");

  m = parse_path("TO:<\"odd>local\"@q.example> NOTIFY=NEVER", "TO:");
  CHECK(m.address == "\"odd>local\"@q.example");
  CHECK(m.domain == "q.example");

  m = parse_path("TO:<Postmaster>", "TO:");
  CHECK(m.valid);
  CHECK(m.domain.empty());

  m = parse_path("TO:bare@x.example", "TO:");
  CHECK(m.address == "bare@x.example");

  CHECK_FALSE(parse_path("TO:<unterminated@x", "TO:").valid);
  CHECK_FALSE(parse_path("<a@b>", "FROM:").valid);
  m = parse_path("FROM:<a@b> SIZE=99999999999999999999999", "FROM:");
  CHECK_FALSE(m.has_size);
}

TEST_CASE("BDAT arguments") {
  Command c;
  parse_command("BDAT 1000 LAST", c);
  CHECK(c.verb == Verb::bdat);
  CHECK(c.bdat_valid);
  CHECK(c.bdat_last);
  CHECK(c.bdat_size == 1000);
  Command d;
  parse_command("bdat 12", d);
  CHECK(d.bdat_valid);
  CHECK_FALSE(d.bdat_last);
  Command e;
  parse_command("BDAT 12 FIRST", e);
  CHECK_FALSE(e.bdat_valid);
  Command f;
  parse_command("BDAT -1", f);
  CHECK_FALSE(f.bdat_valid);
}

TEST_CASE("AUTH arguments never carry a credential into the Command") {
  Command c;
  parse_command("AUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1", c);
  CHECK(c.auth_mechanism == AuthMechanism::plain);
  CHECK(c.auth_initial_response);
  CHECK(c.args == "PLAIN");
  Command d;
  parse_command("AUTH dXNlcjpwYXNz", d);  // not a mechanism: the word may be the secret
  CHECK(d.auth_mechanism == AuthMechanism::other);
  CHECK(d.args.empty());
}

TEST_CASE("a verb with bytes outside printable ASCII is reported") {
  Command c;
  CHECK(parse_command("M\xc3\xa4IL FROM:<a@b>", c));
  Command d;
  CHECK_FALSE(parse_command("MAIL FROM:<j\xc3\xb6rg@b>", d));
  CHECK(has_non_ascii("MAIL FROM:<j\xc3\xb6rg@b>"));
  CHECK_FALSE(has_non_ascii("MAIL FROM:<a@b>\tX"));
}

TEST_CASE("base64 decoding") {
  char out[64];
  bool ok = false;
  auto n = base64_decode("AGFsaWNlAHMzY3IzdC1QYTU1", out, sizeof out, ok);
  CHECK(ok);
  CHECK(std::string(out, n) == std::string("\0alice\0s3cr3t-Pa55", 18));
  n = base64_decode("YWxpY2U", out, sizeof out, ok);  // padding left out
  CHECK(ok);
  CHECK(std::string(out, n) == "alice");
  base64_decode("YW!p", out, sizeof out, ok);
  CHECK_FALSE(ok);
  base64_decode("YWxpY", out, sizeof out, ok);
  CHECK_FALSE(ok);
  n = base64_decode("YWxpY2U=", out, 3, ok);
  CHECK(n == 3);
}

TEST_CASE("whitespace other than SP separates the verb and the arguments, and a tab is not non-ASCII") {
  Command c;  // servers tokenize with isspace(): to them this is AUTH PLAIN with an initial response
  CHECK_FALSE(parse_command("AUTH\tPLAIN\tAGFsaWNlAHMzY3IzdC1QYTU1", c));
  CHECK(c.verb == Verb::auth);
  CHECK(c.verb_text == "AUTH");
  CHECK(c.auth_mechanism == AuthMechanism::plain);
  CHECK(c.auth_initial_response);
  CHECK(c.args == "PLAIN");
  CHECK_FALSE(has_non_ascii("AUTH\tPLAIN\tAGFs"));
  Command d;
  parse_command("auth\t \tdXNlcjpwYXNz", d);
  CHECK(d.verb == Verb::auth);
  CHECK(d.auth_mechanism == AuthMechanism::other);
  CHECK(d.args.empty());
  Command e;
  parse_command("AUTH\rLOGIN\vYWxpY2U=\f", e);
  CHECK(e.auth_mechanism == AuthMechanism::login);
  CHECK(e.auth_initial_response);
  std::string_view mech;
  std::string_view ir;
  split_auth("\t PLAIN \t blob \t", mech, ir);
  CHECK(mech == "PLAIN");
  CHECK(ir == "blob");
  Command f;
  parse_command("MAIL\tFROM:\t<a@b.example>\tSIZE=10\tSMTPUTF8", f);
  CHECK(f.verb == Verb::mail);
  CHECK(f.mail.address == "a@b.example");
  CHECK(f.mail.size == 10);
  CHECK(f.mail.smtputf8);
  Command g;
  parse_command("BDAT\t12\tLAST", g);
  CHECK(g.bdat_valid);
  CHECK(g.bdat_last);
}

TEST_CASE("AUTH glued to a byte outside printable ASCII keeps no arguments") {
  Command c;
  CHECK(parse_command(std::string_view("AUTH\0PLAIN AGFs", 15), c));
  CHECK(c.verb == Verb::other);
  CHECK(c.args.empty());
  CHECK(looks_like_auth(c.verb_text));
  CHECK(looks_like_auth("auth\xc2\xa0PLAIN"));
  CHECK_FALSE(looks_like_auth("AUTH"));
  CHECK_FALSE(looks_like_auth("AUTHX"));
  CHECK_FALSE(looks_like_auth("XAUTH\x01"));
}
