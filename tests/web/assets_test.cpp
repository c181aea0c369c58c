#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "web/assets.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>

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

TEST_CASE("every file the page refers to is embedded, and nothing is loaded from elsewhere") {
  // src=, href= and ES module imports: each must name one of our own /ui/ files.
  const std::regex ref(R"re((?:src|href)="([^"]+)"|from "([^"]+)")re");
  int refs = 0;
  for (const auto& a : smtp::web::assets()) {
    const std::string body(a.body);
    for (std::sregex_iterator it(body.begin(), body.end(), ref), end; it != end; ++it) {
      const std::string target = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
      if (target.starts_with("/report")) continue;  // the data, not a file
      INFO(a.path << " refers to " << target);
      CHECK(find(target) != nullptr);
      ++refs;
    }
    // The SVG namespace is a name, not an address; any other URL would be a remote load.
    const std::regex remote(R"(https?://(?!www\.w3\.org/2000/svg"))");
    CHECK_MESSAGE(!std::regex_search(body, remote), a.path << " names a remote address");
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
