#include "config/yaml_reader.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace smtp::config;

namespace {
YAML::Node yaml(const char* text) { return YAML::Load(text); }
}  // namespace

TEST_CASE("each wrong value is one error at its line and column, and the value keeps its default") {
  YamlReader r("x.yaml");
  const auto doc = yaml("a: 5m\nb: soon\nc: [1, 2]\nd: maybe\n");
  Duration a{}, b = Duration(1234);
  std::string c = "kept";
  bool d = true;
  r.duration(doc["a"], "a", a);
  r.duration(doc["b"], "b", b);
  r.string(doc["c"], "c", c);
  r.boolean(doc["d"], "d", d);
  CHECK(a == std::chrono::minutes(5));
  CHECK(b == Duration(1234));
  CHECK(c == "kept");
  CHECK(d);
  REQUIRE(r.errors().size() == 3);
  CHECK(r.errors()[0].text() == "x.yaml:2:4: b: expected a duration like 30s, 10m, 1h or 2d, got 'soon'");
  CHECK(r.errors()[1].line == 3);
  CHECK(r.errors()[1].message == "c: expected a single value");
  CHECK(r.errors()[2].message == "d: expected true or false, got 'maybe'");
}

TEST_CASE("an unknown key is named with the closest known one, within two edits") {
  YamlReader r("x.yaml");
  std::string seen;
  const std::string_view keys[] = {"listen", "upstream"};
  r.map_of(yaml("upstrem: 1\nlisten: 2\nzzzzzz: 3\n"), "listener", keys,
           [&](const std::string& k, const YAML::Node&) { seen += k; });
  CHECK(seen == "listen");
  REQUIRE(r.errors().size() == 2);
  CHECK(r.errors()[0].message == "unknown key 'upstrem' in listener; did you mean 'upstream'?");
  CHECK(r.errors()[0].line == 1);
  CHECK(r.errors()[1].message == "unknown key 'zzzzzz' in listener");
}

TEST_CASE("host and port: both forms, a bad port, a bracketless IPv6, a name without resolving") {
  YamlReader r("x.yaml");
  HostPort v4, v6, bad;
  r.host_port(yaml("127.0.0.1:2525"), "listen", v4, false);
  r.host_port(yaml("'[::1]:25'"), "listen", v6, false);
  CHECK(v4.host == "127.0.0.1");
  CHECK(v4.port == 2525);
  CHECK(v6.host == "::1");
  CHECK(v6.port == 25);
  CHECK(r.errors().empty());
  r.host_port(yaml("127.0.0.1:65536"), "listen", bad, false);
  r.host_port(yaml("'::1:25'"), "listen", bad, false);
  r.host_port(yaml("mx.example.org:25"), "listen", bad, false);
  REQUIRE(r.errors().size() == 3);
  CHECK(r.errors()[0].message == "listen: bad port in '127.0.0.1:65536'");
  CHECK(r.errors()[1].message == "listen: expected HOST:PORT (IPv6 as [addr]:PORT), got '::1:25'");
  CHECK(r.errors()[2].message == "listen: 'mx.example.org' is not an IP address");
}

TEST_CASE("integers and choices are checked against their range and words") {
  YamlReader r("x.yaml");
  unsigned n = 7;
  ProxyProtocol p = ProxyProtocol::none;
  r.integer(yaml("0"), "threads", n, 1, 256);
  r.choice(yaml("v3"), "proxy_protocol_out", p);
  CHECK(n == 7);
  CHECK(p == ProxyProtocol::none);
  REQUIRE(r.errors().size() == 2);
  CHECK(r.errors()[0].message == "threads: must be between 1 and 256, got 0");
  CHECK(r.errors()[1].message == "proxy_protocol_out: expected none | v1 | v2, got 'v3'");
  r.choice(yaml("v2"), "proxy_protocol_out", p);
  CHECK(p == ProxyProtocol::v2);
  CHECK(to_string(p) == "v2");
  CHECK(to_string(DomainFrom::automatic) == "auto");
}
