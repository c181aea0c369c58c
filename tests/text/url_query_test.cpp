// URL query strings: one splitter for /report, /flagged and the investigation endpoints.
#include "text/url_query.hpp"

#include <doctest/doctest.h>

using smtp::text::parse_query_string;

TEST_CASE("pairs come back decoded and in order") {
  const auto p = parse_query_string("from=2026-11-01&user=j%C3%BCrgen%40example.org&q=a+b&flag&&x=");
  REQUIRE(p.has_value());
  REQUIRE(p->size() == 5);
  CHECK((*p)[0].name == "from");
  CHECK((*p)[0].value == "2026-11-01");
  CHECK((*p)[1].value == "j\xc3\xbcrgen@example.org");
  CHECK((*p)[2].value == "a b");
  CHECK((*p)[3].name == "flag");
  CHECK((*p)[3].value.empty());
  CHECK((*p)[4].name == "x");
}

TEST_CASE("a broken %-escape is refused, not passed on") {
  CHECK_FALSE(parse_query_string("a=%zz").has_value());
  CHECK_FALSE(parse_query_string("a=%4").has_value());
  CHECK_FALSE(parse_query_string("%=1").has_value());
  CHECK(parse_query_string("").value().empty());
}
