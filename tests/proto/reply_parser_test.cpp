#include <doctest/doctest.h>

#include "proto/capabilities.hpp"
#include "proto/reply_parser.hpp"

using namespace smtp::proto;

TEST_CASE("reply lines: what is and is not a reply line") {
  CHECK(parse_reply_line("250 ok").valid);
  CHECK(parse_reply_line("250").valid);
  CHECK(parse_reply_line("250-PIPELINING").more);
  CHECK(parse_reply_line("554 5.7.1 no").code == 554);
  CHECK_FALSE(parse_reply_line("25").valid);
  CHECK_FALSE(parse_reply_line("150 nope").valid);
  CHECK_FALSE(parse_reply_line("260 nope").valid);
  CHECK_FALSE(parse_reply_line("2x0 nope").valid);
  CHECK_FALSE(parse_reply_line("250_x").valid);
  CHECK_FALSE(parse_reply_line("HTTP/1.1 400").valid);
}

TEST_CASE("enhanced status codes (RFC 3463)") {
  CHECK(find_enhanced_code("5.7.8 Error", 535) == "5.7.8");
  CHECK(find_enhanced_code("2.0.0", 250) == "2.0.0");
  CHECK(find_enhanced_code("4.4.2 timeout", 421) == "4.4.2");
  CHECK(find_enhanced_code("5.1.10 x", 550) == "5.1.10");
  CHECK(find_enhanced_code("5.7.1 x", 250).empty());  // class must match the reply
  CHECK(find_enhanced_code("5.7.1234 x", 550).empty());
  CHECK(find_enhanced_code("5.7 x", 550).empty());
  CHECK(find_enhanced_code("5.7.1x", 550).empty());
  CHECK(find_enhanced_code("Ok", 250).empty());
}

TEST_CASE("reply assembler: multi-line text joined by newlines, code and enhanced code of the first line") {
  ReplyAssembler a(4096);
  bool malformed = false;
  CHECK(a.add("250-mx.example.com", false, malformed) == ReplyAssembler::Step::more);
  CHECK(a.add("250-PIPELINING", false, malformed) == ReplyAssembler::Step::more);
  REQUIRE(a.add("250 SIZE 100", false, malformed) == ReplyAssembler::Step::done);
  CHECK_FALSE(malformed);
  const Reply& r = a.reply();
  CHECK(r.code == 250);
  CHECK(r.lines == 3);
  CHECK(r.text == "250-mx.example.com\n250-PIPELINING\n250 SIZE 100");
  const auto caps = parse_capabilities(r.text);
  CHECK(caps.pipelining);
  CHECK(caps.size == 100);

  REQUIRE(a.add("550-5.1.1 first", false, malformed) == ReplyAssembler::Step::more);
  REQUIRE(a.add("550 5.1.1 second", false, malformed) == ReplyAssembler::Step::done);
  CHECK(a.reply().enhanced == "5.1.1");
}

TEST_CASE("reply assembler: invalid lines, code changes and truncation") {
  ReplyAssembler a(20);
  bool malformed = false;
  CHECK(a.add("garbage", false, malformed) == ReplyAssembler::Step::invalid);
  CHECK(a.add("250-a", false, malformed) == ReplyAssembler::Step::more);
  CHECK(a.add("junk inside", false, malformed) == ReplyAssembler::Step::more);
  CHECK(malformed);
  CHECK(a.add("251 changed code", false, malformed) == ReplyAssembler::Step::done);
  CHECK(malformed);
  CHECK(a.reply().malformed);
  CHECK(a.reply().code == 250);
  CHECK(a.reply().truncated);
  CHECK(a.reply().text.size() <= 20);
}

TEST_CASE("capabilities: AUTH in both spellings, mechanisms, SIZE without a number") {
  const auto c = parse_capabilities("250-mx\n250-AUTH=LOGIN\n250-auth plain cram-md5 XOAUTH2 NTLM\n250-SIZE\n250 chunking");
  CHECK(c.ehlo);
  CHECK(c.auth);
  CHECK(c.offers(AuthMechanism::login));
  CHECK(c.offers(AuthMechanism::plain));
  CHECK(c.offers(AuthMechanism::cram_md5));
  CHECK(c.offers(AuthMechanism::xoauth2));
  CHECK(c.offers(AuthMechanism::other));
  CHECK(c.has_size);
  CHECK(c.size == 0);
  CHECK(c.chunking);
  CHECK_FALSE(c.pipelining);
  CHECK_FALSE(parse_capabilities("250-PIPELINING is the host name line").pipelining);
}
