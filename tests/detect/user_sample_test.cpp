#include "detect/user_sample.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace smtp::detect;

TEST_CASE("a user sample keeps the first five distinct names, in order") {
  UserSample s;
  s.add("");
  CHECK(s.size() == 0);
  s.add("alice");
  s.add("bob");
  s.add("alice");
  s.add("a-name-well-past-the-short-string-buffer@example.org");
  CHECK(s.list() == std::vector<std::string>{"alice", "bob", "a-name-well-past-the-short-string-buffer@example.org"});
  s.add("carol");
  s.add("dave");
  s.add("erin");
  CHECK(s.size() == 5);
  CHECK(s.list() ==
        std::vector<std::string>{"alice", "bob", "a-name-well-past-the-short-string-buffer@example.org", "carol", "dave"});
  CHECK(s.at(1) == "bob");
}

TEST_CASE("a user sample cuts long names, and two names that differ only past the cut are one") {
  UserSample s;
  const std::string base(UserSample::kMaxName, 'u');
  s.add(base + "1");
  s.add(base + "2");
  REQUIRE(s.size() == 1);
  CHECK(s.at(0) == base);
  // Five names of the longest kind fit: their ends stay within 16 bits.
  for (char c = 'a'; c < 'f'; ++c) s.add(std::string(UserSample::kMaxName, c));
  CHECK(s.size() == 5);
  CHECK(s.at(4) == std::string(UserSample::kMaxName, 'd'));
}
