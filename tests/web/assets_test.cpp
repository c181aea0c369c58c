#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "web/assets.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace {

using smtp::web::Asset;

const Asset* find(std::string_view path) {
  for (const auto& a : smtp::web::assets())
    if (a.path == path) return &a;
  return nullptr;
}

std::string read_source(const std::string& name) {
  std::ifstream in(std::string(WEB_SOURCE_DIR) + "/" + name, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("the page is served at / as HTML and every file is embedded byte for byte") {
  const Asset* index = find("/");
  REQUIRE(index != nullptr);
  CHECK(index->content_type == "text/html; charset=utf-8");
  CHECK(index->body == read_source("index.html"));
  std::set<std::string_view> paths;
  for (const auto& a : smtp::web::assets()) {
    CHECK_MESSAGE(paths.insert(a.path).second, "duplicate path " << a.path);
    if (a.path == "/") continue;
    REQUIRE(a.path.starts_with("/ui/"));
    CHECK(a.body == read_source(std::string(a.path.substr(4))));
    if (a.path.ends_with(".js")) CHECK(a.content_type == "text/javascript; charset=utf-8");
    if (a.path.ends_with(".css")) CHECK(a.content_type == "text/css; charset=utf-8");
  }
}

namespace {

// The quoted values after each marker: src="...", href="..." and ES module imports
// (from "..."). Plain string search: GCC 12 warns inside <regex> in the sanitizer build.
std::vector<std::string> quoted_after(std::string_view body, std::string_view marker) {
  std::vector<std::string> out;
  for (auto at = body.find(marker); at != std::string_view::npos; at = body.find(marker, at + 1)) {
    const auto start = at + marker.size();
    const auto end = body.find('"', start);
    if (end == std::string_view::npos) break;
    out.emplace_back(body.substr(start, end - start));
  }
  return out;
}

// Any http:// or https:// other than the SVG namespace, which is a name, not an address.
bool names_remote_address(std::string_view body) {
  for (const std::string_view scheme : {"http://", "https://"})
    for (auto at = body.find(scheme); at != std::string_view::npos; at = body.find(scheme, at + 1))
      if (!body.substr(at + scheme.size()).starts_with("www.w3.org/2000/svg\"")) return true;
  return false;
}

}  // namespace

TEST_CASE("every file the page refers to is embedded, and nothing is loaded from elsewhere") {
  // src=, href= and ES module imports: each must name one of our own /ui/ files.
  int refs = 0;
  for (const auto& a : smtp::web::assets()) {
    for (const std::string_view marker : {"src=\"", "href=\"", "from \""}) {
      for (const auto& target : quoted_after(a.body, marker)) {
        if (target.starts_with("/report") || target.starts_with("#")) continue;  // the data, or a step in the page
        INFO(a.path << " refers to " << target);
        CHECK(find(target) != nullptr);
        ++refs;
      }
    }
    CHECK_MESSAGE(!names_remote_address(a.body), a.path << " names a remote address");
  }
  CHECK(refs >= 4);  // icon.svg, style.css, app.js, chart.js
}

TEST_CASE("the content security policy forbids every remote load") {
  const std::string_view csp = smtp::web::kContentSecurityPolicy;
  CHECK(csp.starts_with("default-src 'none';"));
  for (const auto* directive : {"script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'"})
    CHECK(csp.find(directive) != std::string_view::npos);
  CHECK(csp.find("unsafe") == std::string_view::npos);
  CHECK(csp.find("http") == std::string_view::npos);
}
