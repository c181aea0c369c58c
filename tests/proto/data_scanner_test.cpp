// The DATA scanner against a slow reference that sees the whole content at once, under random cuts.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "proto/data_scanner.hpp"
#include "proto/line_dot.hpp"

using smtp::proto::DataScanner;

namespace {

struct Expect {
  bool done = false;
  std::size_t end = 0;  // bytes up to and including the final ".\r\n"
  std::uint64_t size = 0;
  std::uint32_t lookalikes = 0;
  std::string last;
};

// Straight from the definitions: the content follows DATA's own CRLF; a dot after a line break is
// classified by the line break before and after it.
Expect reference(const std::string& content) {
  const std::string s = "\r\n" + content;
  Expect e;
  std::uint64_t stuffed = 0;
  for (std::size_t d = 2; d < s.size(); ++d) {
    if (s[d] != '.' || (s[d - 1] != '\r' && s[d - 1] != '\n')) continue;
    const char* before = s[d - 1] == '\r' ? "CR" : (s[d - 2] == '\r' ? "CRLF" : "LF");
    const bool crlf_before = std::string(before) == "CRLF";
    const char* after = nullptr;
    if (d + 1 < s.size() && s[d + 1] == '\n') after = "LF";
    if (d + 2 < s.size() && s[d + 1] == '\r') after = s[d + 2] == '\n' ? "CRLF" : "CR";
    if (crlf_before && after != nullptr && std::string(after) == "CRLF") {
      e.done = true;
      e.end = d + 3 - 2;
      e.size = d - 2 - stuffed;
      return e;
    }
    if (crlf_before) ++stuffed;
    if (after != nullptr) {
      ++e.lookalikes;
      e.last = std::string(before) + "." + after;
    }
  }
  return e;
}

}  // namespace

TEST_CASE("data scanner: exact end of data, stuffing and look-alikes match the reference under random cuts") {
  std::mt19937 rng(20261123);
  const char alphabet[] = {'a', '.', '\r', '\n', '\r', '\n', '.'};
  for (int round = 0; round < 20000; ++round) {
    std::string content;
    const int len = static_cast<int>(rng() % 24);
    for (int i = 0; i < len; ++i) content.push_back(alphabet[rng() % sizeof alphabet]);
    const Expect want = reference(content);

    DataScanner scan;
    std::size_t pos = 0;
    std::size_t content_bytes = 0;
    bool done = false;
    while (pos < content.size() && !done) {
      const std::size_t cut = 1 + rng() % (content.size() - pos);
      std::string_view in(content.data() + pos, cut);
      while (!in.empty() && !done) {
        const auto step = scan.scan(in);
        content_bytes += step.content;
        done = step.done;
        pos += step.consumed;
        in.remove_prefix(step.consumed);
        CHECK((step.consumed > 0 || step.lookalike));
      }
    }
    CAPTURE(content);
    REQUIRE(done == want.done);
    CHECK(scan.lookalikes() == want.lookalikes);
    if (want.lookalikes != 0) CHECK(scan.last_lookalike() == want.last);
    if (done) {
      CHECK(pos == want.end);
      CHECK(scan.size() == want.size);
      CHECK(scan.wire() == want.end);
      // A "." or ".\r" that ended an earlier input was reported as content before it was known to end DATA.
      CHECK(content_bytes >= want.end - 3);
      CHECK(content_bytes <= want.end - 1);
    }
  }
}

TEST_CASE("data scanner: megabytes of base64 and text end exactly at the dot line") {
  std::string body;
  for (int i = 0; i < 20000; ++i) body += "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
  for (int i = 0; i < 2000; ++i) body += "A sentence. Another one... and .dots. everywhere.\r\n.leading\r\n";
  const std::string wire = body + ".\r\nQUIT\r\n";
  DataScanner scan;
  const auto step = scan.scan(wire);
  CHECK(step.done);
  CHECK(step.consumed == body.size() + 3);
  CHECK(scan.size() == body.size() - 2000);  // one stuffed dot per ".leading" line
  CHECK(scan.lookalikes() == 0);
}

TEST_CASE("line_dot: every variant finds the first line-leading dot a byte-by-byte search finds") {
  using namespace smtp::proto;
  std::mt19937 rng(2026);
  // Mostly text with dots, some line breaks, and line-leading dots now and then, at
  // many offsets and lengths around the 16- and 64-byte steps.
  const char alphabet[] = "abc. .\r\n..x\rz\n";
  for (int round = 0; round < 4000; ++round) {
    const std::size_t n = 1 + rng() % 300;
    std::string s(n, 'a');
    const unsigned density = 1 + rng() % 40;  // 1 in `density` bytes is special
    for (auto& c : s) c = rng() % density == 0 ? alphabet[rng() % (sizeof alphabet - 1)] : 'a';
    for (std::size_t from = 1; from <= n; from += 1 + rng() % 7) {
      std::size_t want = n;
      for (std::size_t d = from; d < n; ++d)
        if (s[d] == '.' && (s[d - 1] == '\r' || s[d - 1] == '\n')) {
          want = d;
          break;
        }
      CHECK(line_dot::find_portable(s.data(), from, n) == want);
      if (line_dot::avx2()) CHECK(line_dot::find_avx2(s.data(), from, n) == want);
      CHECK(line_dot::find(s.data(), from, n) == want);
    }
  }
  MESSAGE("AVX2 variant tested: " << line_dot::avx2());
}
