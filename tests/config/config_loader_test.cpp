#include "config/config_loader.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace smtp::config;
using namespace std::chrono_literals;

namespace {
// The errors a document produces, as "LINE:COL: message" without the file name.
std::vector<std::string> errors_of(const std::string& yaml) {
  try {
    parse_config(yaml, "t.yaml");
  } catch (const ConfigErrors& e) {
    std::vector<std::string> out;
    for (const auto& err : e.errors()) out.push_back(std::to_string(err.line) + ":" + std::to_string(err.column) + ": " + err.message);
    return out;
  }
  return {};
}
}  // namespace

TEST_CASE("an empty file is valid and every default is filled in") {
  const Config c = parse_config("", "empty.yaml");
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].listen.text() == "0.0.0.0:2525");
  CHECK(c.listeners[0].upstream.text() == "127.0.0.1:25");
  CHECK(c.threads == 0);
  CHECK(c.timeouts.connect == 10s);
  CHECK(c.timeouts.greeting == 60s);
  CHECK(c.timeouts.idle == 5min);
  CHECK(c.timeouts.shutdown_grace == 30s);
  CHECK(c.limits.max_line == 4096);
  CHECK(c.http.listen == "127.0.0.1:9925");
  CHECK(c.detectors.auth_bruteforce.threshold == 5);
  CHECK(c.detectors.auth_bruteforce.window == 10min);
  CHECK(c.detectors.connection_ratio.ratio == 10);
  CHECK(c.flag.block_reply == "554 5.7.1 Access denied");
  CHECK(c.allow.size() == 1);
}

TEST_CASE("a full listener parses, IPv6 included") {
  const Config c = parse_config(R"(
listeners:
  - name: mx
    listen: "[::]:25"
    upstream: "127.0.0.1:2526"
    proxy_protocol_out: v2
    proxy_protocol_in: true
    trusted_proxies: ["10.0.0.0/8", "::1/128"]
    max_connections: 50
    max_connections_per_client: 20
    domain_from: recipient
  - name: submission
    listen: 127.0.0.1:587
    upstream: original-destination
    direction: outbound
    user_from: sender
  - name: transparent
    listen: 127.0.0.1:2527
    upstream: "127.0.0.1:2526"
    source: client
threads: 3
timeouts: { connect: 2s, idle: 90s, shutdown_grace: 0s }
detectors:
  auth_bruteforce: { failures: 3, window: 5m, action: block }
  connection_ratio: { max_ratio: 2.5 }
)",
                                "t.yaml");
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.listeners[0].listen.host == "::");
  CHECK(c.listeners[0].proxy_protocol_out == ProxyProtocol::v2);
  CHECK(c.listeners[0].trusted_proxies.size() == 2);
  CHECK(c.listeners[0].domain_from == DomainFrom::recipient);
  CHECK(c.listeners[0].max_connections_per_client == 20);
  CHECK(c.listeners[1].max_connections_per_client == 0);  // no limit unless asked
  CHECK(parse_config(effective_yaml(c), "back.yaml").listeners[0].max_connections_per_client == 20);
  CHECK(c.listeners[1].original_destination());
  CHECK(c.listeners[1].upstream_text() == "original-destination");
  // Every listener key prints as the loader reads it, enum words and lists included.
  const std::string printed = effective_yaml(c);
  CHECK(effective_yaml(parse_config(printed, "back.yaml")) == printed);
  for (const auto* text : {"upstream: original-destination", "direction: outbound", "user_from: sender", "source: client",
                           "proxy_protocol_out: v2", "domain_from: recipient", "trusted_proxies: [10.0.0.0/8, \"::1/128\"]"})
    CHECK_MESSAGE(printed.find(text) != std::string::npos, text);
  CHECK(c.listeners[0].direction == Direction::inbound);
  CHECK(c.listeners[1].direction == Direction::outbound);
  CHECK(c.listeners[1].user_from == UserFrom::sender);
  CHECK(c.listeners[2].source == Source::client);
  CHECK(c.threads == 3);
  CHECK(c.timeouts.idle == 90s);
  CHECK(c.timeouts.shutdown_grace == 0s);
  CHECK(c.detectors.auth_bruteforce.action == Action::block);
  CHECK(c.detectors.auth_bruteforce.threshold == 3);
  CHECK(c.detectors.connection_ratio.ratio == 2.5);
  CHECK(c.detectors.connection_ratio.threshold == 20);
}

TEST_CASE("errors carry line and column, all of them at once") {
  const auto errs = errors_of("threads: 2\ntimeouts:\n  idel: 5m\n  connect: soon\nhttp: { listen: nowhere }\n");
  REQUIRE(errs.size() == 3);
  CHECK(errs[0] == "3:3: unknown key 'idel' in timeouts; did you mean 'idle'?");
  CHECK(errs[1].rfind("4:12: timeouts.connect: expected a duration", 0) == 0);
  CHECK(errs[2].rfind("5:17: http.listen:", 0) == 0);
}

TEST_CASE("impossible values are refused") {
  CHECK(errors_of("detectors:\n  auth_bruteforce: { failures: 0 }\n").at(0).rfind("2:32: detectors.auth_bruteforce.failures: must be between 1", 0) == 0);
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:99999\n").at(0).rfind("2:13: listen: bad port", 0) == 0);
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n    proxy_protocol_out: v3\n").at(0) ==
        "3:25: proxy_protocol_out: expected none | v1 | v2, got 'v3'");
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n    max_connections_per_client: -1\n").at(0).rfind(
            "3:33: max_connections_per_client: ", 0) == 0);
  CHECK(errors_of("threads: many\n").at(0).rfind("1:10: threads (a number or auto): expected a whole number", 0) == 0);
  CHECK(errors_of("flag: { block_reply: \"250 ok\" }\n").size() == 1);
  CHECK(errors_of("allow: [ 10.0.0.0/40 ]\n").at(0) == "1:10: allow: not an IPv4 or IPv6 CIDR: '10.0.0.0/40'");
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n  - listen: 1.2.3.4:25\n    name: b\n").size() == 1);
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n    tls: { mode: terminate, cert: /nonexistent.pem, key: /nonexistent.key }\n").size() == 2);
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n    direction: sideways\n").at(0) ==
        "3:16: direction: expected inbound | outbound, got 'sideways'");
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n    direction: outbound\n    source: client\n").at(0) ==
        "2:5: listener 'smtp': source: client is for inbound listeners");
  CHECK(errors_of("detectors:\n  pregreet: { window: 5m }\n").at(0).rfind("2:15: unknown key 'window' in detectors.pregreet", 0) == 0);
  CHECK(errors_of("detectors:\n  user_many_ips: { action: block }\n").at(0) ==
        "2:28: detectors.user_many_ips.action: user_many_ips flags an account, never an address, so there is nothing to block");
  CHECK(errors_of("detectors:\n  outbound_rejections: { action: flag }\n").empty());
  CHECK(errors_of("detectors:\n  auth_brutforce: {}\n").at(0) ==
        "2:3: unknown key 'auth_brutforce' in detectors; did you mean 'auth_bruteforce'?");
}

TEST_CASE("an upstream that is the sensor's own listener, and binds that overlap, are errors at their line") {
  // The same address, loopback under a wildcard, and connect()'s 0.0.0.0; IPv6 "[::]" takes IPv4 too.
  CHECK(errors_of("listeners:\n  - listen: 127.0.0.1:2525\n    upstream: 127.0.0.1:2525\n").at(0) ==
        "3:15: listener 'smtp': upstream 127.0.0.1:2525 is the sensor's own listener 'smtp' (127.0.0.1:2525): it would "
        "relay to itself");
  CHECK(errors_of("listeners:\n  - listen: 0.0.0.0:25\n    upstream: 127.0.0.9:25\n").size() == 1);
  CHECK(errors_of("listeners:\n  - listen: \"[::]:25\"\n    upstream: 127.0.0.1:25\n").size() == 1);
  CHECK(errors_of("listeners:\n  - listen: 0.0.0.0:25\n    upstream: 0.0.0.0:25\n").size() == 1);
  CHECK(errors_of("listeners:\n  - listen: 127.0.0.1:25\n    upstream: 127.0.0.1:2526\n  - name: b\n"
                  "    listen: 127.0.0.1:2526\n    upstream: 127.0.0.1:10025\n")
            .at(0)
            .find("is the sensor's own listener 'b'") != std::string::npos);
  // Not the sensor: another port, another loopback address under a specific bind, or IPv6
  // loopback under an IPv4 wildcard.
  CHECK(errors_of("listeners:\n  - listen: 0.0.0.0:25\n    upstream: 127.0.0.1:10025\n").empty());
  CHECK(errors_of("listeners:\n  - listen: 127.0.0.1:25\n    upstream: 127.0.0.2:25\n").empty());
  CHECK(errors_of("listeners:\n  - listen: 0.0.0.0:25\n    upstream: \"[::1]:25\"\n").empty());
  CHECK(errors_of("listeners:\n  - listen: 0.0.0.0:25\n    upstream: original-destination\n").empty());

  CHECK(errors_of("listeners:\n  - listen: 0.0.0.0:25\n  - name: b\n    listen: 127.0.0.1:25\n    upstream: 127.0.0.1:10025\n")
            .at(0) == "3:5: listen address 127.0.0.1:25 overlaps listener 'smtp''s 0.0.0.0:25: both cannot be bound");
  const std::string up = "    upstream: 127.0.0.1:10025\n";
  CHECK(errors_of("listeners:\n  - listen: \"[::]:25\"\n" + up + "  - name: b\n    listen: 0.0.0.0:25\n" + up).size() == 1);
  CHECK(errors_of("listeners:\n  - listen: \"[::1]:25\"\n" + up + "  - name: b\n    listen: 0.0.0.0:25\n" + up).empty());
  CHECK(errors_of("listeners:\n  - listen: 0.0.0.0:2525\nhttp:\n  listen: 127.0.0.1:2525\n").at(0) ==
        "4:11: http.listen 127.0.0.1:2525 overlaps listener 'smtp''s 0.0.0.0:2525: both cannot be bound");
}

TEST_CASE("a listener's keys all have defaults, listen included (SPEC 2: an empty file is valid)") {
  const Config c = parse_config("listeners:\n  - upstream: 127.0.0.1:10025\n", "t.yaml");
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].listen.text() == "0.0.0.0:2525");
  CHECK(c.listeners[0].upstream.text() == "127.0.0.1:10025");
  // Two listeners that both take the default listen address collide, and say so.
  CHECK(errors_of("listeners:\n  - upstream: 127.0.0.1:10025\n  - name: b\n    upstream: 127.0.0.1:10026\n").at(0) ==
        "3:5: listen address 0.0.0.0:2525 is used twice");
}

TEST_CASE("a key given twice in one mapping is an error at the second, never a silent winner") {
  // yaml-cpp keeps both; the second `listeners:` used to replace the first's listeners
  // without a word, and with entries under both, check-config died of an uncaught
  // exception (found by tests/fuzz/fuzz_config).
  const auto twice = errors_of("listeners:\n  - listen: 1.2.3.4:25\nlisteners:\n  - listen: 1.2.3.4:26\n  - listen: 1.2.3.4:27\n");
  REQUIRE(twice.size() == 1);
  CHECK(twice[0] == "3:1: key 'listeners' given twice in the top level (first on line 1)");
  const auto empty_then_two = errors_of("listeners:\nlisteners:\n-\n-\n");
  REQUIRE(empty_then_two.size() == 2);
  CHECK(empty_then_two[0] == "2:1: listeners: expected a list of one or more listeners");
  CHECK(empty_then_two[1] == "2:1: key 'listeners' given twice in the top level (first on line 1)");
  CHECK(errors_of("timeouts:\n  idle: 5m\n  connect: 5s\n  idle: 1m\n").at(0) ==
        "4:3: key 'idle' given twice in timeouts (first on line 2)");
  CHECK(errors_of("detectors:\n  pregreet: { enabled: false, enabled: true }\n").at(0) ==
        "2:31: key 'enabled' given twice in detectors.pregreet (first on line 2)");
  CHECK(errors_of("detectors:\n  pregreet: {}\n  pregreet: { enabled: false }\n").at(0) ==
        "3:3: key 'pregreet' given twice in detectors (first on line 2)");
  const std::string hash = "$2y$10$Zk9vYmFyYmF6cXV4cXV1eOlU7m0lJbZ2c5V7m0lJbZ2c5V7m0lJbZ";
  CHECK(errors_of("http:\n  basic_auth:\n    ops: \"" + hash + "\"\n    ops: \"" + hash + "\"\n").at(0) ==
        "4:5: key 'ops' given twice in http.basic_auth (first on line 3)");
}

TEST_CASE("YAML syntax errors report their position") {
  const auto errs = errors_of("listeners:\n  - name: [unclosed\n");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].rfind("3:1: ", 0) == 0);
  CHECK(errs[0].find("(a '[' or '{' is not closed)") != std::string::npos);
  // A key one column off: yaml-cpp says what it did not find; the hint says why.
  const auto indent = errors_of("listeners:\n  - name: a\n   listen: 127.0.0.1:25\n");
  REQUIRE(indent.size() == 1);
  CHECK(indent[0].find("check the indentation") != std::string::npos);
}

TEST_CASE("the effective config parses back to the same values") {
  const Config a = parse_config("threads: 4\ntimeouts: { idle: 90s }\ndeny: [ 192.0.2.0/24 ]\n", "a.yaml");
  const Config b = parse_config(effective_yaml(a), "b.yaml");
  CHECK(b.threads == 4);
  CHECK(b.timeouts.idle == 90s);
  REQUIRE(b.deny.size() == 1);
  CHECK(b.deny[0].text() == "192.0.2.0/24");
  CHECK(effective_yaml(a) == effective_yaml(b));
}

TEST_CASE("the shipped example config is valid") {
  CHECK_NOTHROW(load_config_file(EXAMPLE_CONFIG));
}

TEST_CASE("a missing file is a clear error") {
  try {
    load_config_file("/nonexistent/smtp-sensor.yaml");
    FAIL("expected an error");
  } catch (const ConfigErrors& e) {
    CHECK(e.errors().at(0).text() == "/nonexistent/smtp-sensor.yaml: cannot open the config file: No such file or directory");
  }
}

TEST_CASE("TLS keys: verify, ca_file, upstream_implicit and the handshake timeout") {
  // /etc/passwd stands in for a readable PEM: the loader checks that files can be read,
  // the daemon and check-config then load them with OpenSSL.
  const Config c = parse_config(
      "listeners:\n  - listen: 127.0.0.1:465\n    tls: { mode: terminate, cert: /etc/passwd, key: /etc/passwd, "
      "implicit: true, verify: ca_file, ca_file: /etc/passwd, upstream_implicit: false }\n"
      "timeouts: { tls_handshake: 3s }\n",
      "t.yaml");
  const auto& tls = c.listeners.at(0).tls;
  CHECK(tls.mode == TlsMode::terminate);
  CHECK(tls.implicit);
  CHECK(tls.verify == TlsVerify::ca_file);
  CHECK(tls.ca_file == "/etc/passwd");
  CHECK_FALSE(tls.upstream_implicit);
  CHECK(c.timeouts.tls_handshake == std::chrono::seconds(3));
  const Config back = parse_config(effective_yaml(c), "back.yaml");
  CHECK(back.listeners.at(0).tls.verify == TlsVerify::ca_file);
  CHECK_FALSE(back.listeners.at(0).tls.upstream_implicit);
  CHECK(back.timeouts.tls_handshake == std::chrono::seconds(3));

  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n    tls: { verify: sometimes }\n").at(0) ==
        "3:20: tls.verify: expected none | ca_file, got 'sometimes'");
  CHECK(errors_of("listeners:\n  - listen: 1.2.3.4:25\n    tls: { mode: terminate, cert: /etc/passwd, key: "
                  "/etc/passwd, verify: ca_file }\n")
            .at(0)
            .find("tls.ca_file: required with verify: ca_file") != std::string::npos);
}

TEST_CASE("HostPort::parse reads what text() writes, IP literals only") {
  using smtp::config::HostPort;
  for (const auto* s : {"127.0.0.1:9925", "[::1]:25", "[2001:db8::1]:65535", "0.0.0.0:0"}) {
    const auto hp = HostPort::parse(s);
    REQUIRE(hp.has_value());
    CHECK(hp->text() == s);
  }
  for (const auto* s : {"", "localhost:25", "127.0.0.1", "::1:25", "[::1]25", "127.0.0.1:65536", "127.0.0.1:2x", "[::1]:"})
    CHECK_FALSE(HostPort::parse(s).has_value());
}
