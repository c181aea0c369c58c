#include "store/pack.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace smtp::store;

namespace {

std::vector<OwnedEntry> read_all(const std::string& blob) {
  std::vector<OwnedEntry> out;
  PackReader r(blob);
  PackEntry e;
  while (r.next(e)) out.push_back({std::string(e.key), std::string(e.domain), e.counts});
  CHECK_FALSE(r.corrupt());
  return out;
}

}  // namespace

TEST_CASE("a pack sorts its entries by key, then domain, and sums duplicates") {
  const std::string blob = encode_sorted({
      {"192.0.2.9", "b.example", {1, 0, 2, 0, 300, 1}},
      {"192.0.2.10", "a.example", {1, 1, 0, 1, 5, 0}},
      {"192.0.2.9", "a.example", {1, 0, 0, 0, 70000, 2}},
      {"192.0.2.9", "b.example", {2, 0, 1, 1, 1 << 20, 3}},
  });
  const auto all = read_all(blob);
  REQUIRE(all.size() == 3);
  CHECK(all[0].key == "192.0.2.10");  // byte order, as SQLite's BINARY collation
  CHECK(all[1].key == "192.0.2.9");
  CHECK(all[1].domain == "a.example");
  CHECK(all[2].domain == "b.example");
  CHECK(all[2].counts == Counts{3, 0, 3, 1, 300 + (1 << 20), 4});
  CHECK(encode_sorted({}).empty());
}

TEST_CASE("merging packs sums the same keys across them and keeps the order") {
  const std::string a = encode_sorted({{"alice", "a.example", {1, 0, 0, 0, 10, 1}}, {"carol", "c.example", {1, 0, 0, 0, 1, 0}}});
  const std::string b = encode_sorted({{"bob", "a.example", {2, 0, 0, 0, 20, 2}}, {"alice", "a.example", {3, 1, 1, 1, 30, 3}}});
  const std::string c;  // an hour without sessions
  const auto all = read_all(merge_packs({a, b, c}));
  REQUIRE(all.size() == 3);
  CHECK(all[0].key == "alice");
  CHECK(all[0].counts == Counts{4, 1, 1, 1, 40, 4});
  CHECK(all[1].key == "bob");
  CHECK(all[2].key == "carol");
  CHECK(merge_packs({}).empty());
}

TEST_CASE("a damaged pack ends the walk and says so") {
  std::string blob = encode_sorted({{"a.example", "", {1, 2, 3, 4, 5, 6}}, {"b.example", "", {1, 2, 3, 4, 5, 6}}});
  blob.resize(blob.size() - 3);
  PackReader r(blob);
  PackEntry e;
  CHECK(r.next(e));
  CHECK(e.key == "a.example");
  CHECK_FALSE(r.next(e));
  CHECK(r.corrupt());
  // A length running past the end, and a varint that never ends.
  for (const std::string& bad : {std::string("\x50" "abc"), std::string(12, '\xff')}) {
    PackReader x(bad);
    CHECK_FALSE(x.next(e));
    CHECK(x.corrupt());
  }
}
