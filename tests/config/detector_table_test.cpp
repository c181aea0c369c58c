// The detector table and the section tables agree with the loader and the printer.
#include "config/config_loader.hpp"
#include "config/config_sections.hpp"
#include "config/detector_list.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace smtp::config;
using namespace std::chrono_literals;

TEST_CASE("every DetectorId has its own name, found again by name") {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kDetectorCount; ++i) {
    const auto id = static_cast<DetectorId>(i);
    CHECK(info(id).id == id);
    CHECK_FALSE(to_string(id).empty());
    names.insert(to_string(id));
    CHECK(detector_named(to_string(id)) == id);
  }
  CHECK(names.size() == kDetectorCount);
  CHECK_FALSE(detector_named("max_tracked").has_value());
  CHECK(to_string(DetectorId::auth_bruteforce) == "auth_bruteforce");
  CHECK(to_string(DetectorId::compromised_account) == "compromised_account");
}

TEST_CASE("severities (SPEC 15): critical for auth_success_after_failures, smuggling and starttls_injection") {
  for (const auto& d : kDetectors) {
    const bool critical = d.id == DetectorId::auth_success_after_failures || d.id == DetectorId::smuggling ||
                          d.id == DetectorId::starttls_injection;
    CHECK(d.severity == (critical ? "critical" : "warning"));
  }
}

TEST_CASE("Detectors members are the table's, indexed by DetectorId, with its defaults") {
  Detectors d;
  CHECK(&d[DetectorId::auth_bruteforce] == &d.auth_bruteforce);
  CHECK(&d[DetectorId::compromised_account] == &d.compromised_account);
  CHECK(&d[DetectorId::pregreet] == &d.pregreet);
  CHECK(d[DetectorId::connection_ratio].ratio == 10);
  CHECK(d[DetectorId::password_spray].window == 1h);
  for (const auto& k : kDetectors) {
    CHECK(d[k.id].enabled);
    CHECK(d[k.id].action == Action::flag);
    CHECK((d[k.id].window > 0s) == k.windowed);
    CHECK((d[k.id].threshold > 0) == !k.threshold_key.empty());
    CHECK((d[k.id].ratio > 0) == !k.ratio_key.empty());
  }
}

TEST_CASE("quiet slots are dense per key") {
  CHECK(quiet_slots(Counts::ip) == 9);
  CHECK(quiet_slots(Counts::user) == 4);
  std::set<std::size_t> ip, user;
  for (const auto& k : kDetectors) {
    if (k.counts == Counts::ip) ip.insert(quiet_slot(k.id));
    if (k.counts == Counts::user) user.insert(quiet_slot(k.id));
  }
  CHECK(ip == std::set<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(user == std::set<std::size_t>{0, 1, 2, 3});
}

TEST_CASE("the loader takes each detector's own keys, and the printer prints them") {
  for (const auto& k : kDetectors) {
    CAPTURE(k.name);
    // An account-only detector has nothing to block: its action stays flag, unprinted.
    const bool acts = !acts_on_accounts_only(k.id);
    const Action action = acts ? Action::block : Action::flag;
    std::string yaml = "detectors:\n  " + std::string(k.name) + ":\n    enabled: false\n    action: " +
                       std::string(to_string(action)) + "\n";
    if (k.windowed) yaml += "    window: 7m\n";
    if (!k.threshold_key.empty()) yaml += "    " + std::string(k.threshold_key) + ": 77\n";
    if (!k.ratio_key.empty()) yaml += "    " + std::string(k.ratio_key) + ": 3.5\n";
    const Config c = parse_config(yaml, "t.yaml");
    const Detector& d = c.detectors[k.id];
    CHECK_FALSE(d.enabled);
    CHECK(d.action == action);
    if (k.windowed) CHECK(d.window == 7min);
    if (!k.threshold_key.empty()) CHECK(d.threshold == 77);
    if (!k.ratio_key.empty()) CHECK(d.ratio == 3.5);

    const std::string printed = effective_yaml(c);
    CHECK(printed.find("  " + std::string(k.name) + ": {enabled: false") != std::string::npos);
    if (!k.threshold_key.empty()) CHECK(printed.find(std::string(k.threshold_key) + ": 77") != std::string::npos);
    CHECK((printed.find(std::string(k.name) + ": {enabled: false") != std::string::npos &&
           printed.find("action", printed.find(std::string(k.name) + ": {")) <
               printed.find("\n", printed.find(std::string(k.name) + ": {"))) == acts);
    const Config back = parse_config(printed, "back.yaml");
    CHECK(back.detectors[k.id].action == action);
    CHECK(back.detectors[k.id].threshold == d.threshold);
    CHECK(back.detectors[k.id].window == d.window);
    CHECK(back.detectors[k.id].ratio == d.ratio);
  }
}

TEST_CASE("addresses: prefixes read, checked and printed; windows up to 7 days") {
  const Config c = parse_config("addresses: { ipv4_prefix: 24, ipv6_prefix: 48 }\n", "t.yaml");
  CHECK(c.addresses.ipv4_prefix == 24);
  CHECK(c.addresses.ipv6_prefix == 48);
  CHECK(effective_yaml(c).find("addresses: {ipv4_prefix: 24, ipv6_prefix: 48}") != std::string::npos);
  CHECK(Config{}.addresses.ipv4_prefix == 32);
  CHECK(Config{}.addresses.ipv6_prefix == 64);
  CHECK_THROWS_WITH_AS(parse_config("addresses:\n  ipv6_prefix: 129\n", "t.yaml"), doctest::Contains("t.yaml:2:16"),
                       ConfigErrors);
  CHECK(parse_config("detectors:\n  auth_bruteforce: { failures: 20, window: 7d }\n", "t.yaml")
            .detectors.auth_bruteforce.window == std::chrono::hours(24 * 7));
  CHECK_THROWS_WITH_AS(parse_config("detectors:\n  auth_bruteforce: { failures: 20, window: 8d }\n", "t.yaml"),
                       doctest::Contains("t.yaml:2:44: detectors.auth_bruteforce.window: at most 7d"), ConfigErrors);
}

TEST_CASE("each section key is read, printed and read back") {
  const Config c = parse_config(
      "timeouts: { connect: 3s, greeting: 4s, idle: 5s, shutdown_grace: 0s, proxy_header: 6s, tls_handshake: 7s }\n"
      "limits: { max_line: 1KiB }\nhttp: { listen: \"[::1]:99\" }\nmetrics: { domain_label_limit: 0 }\n"
      "transcripts: { enabled: false, path: /t, max_size: 64KiB, max_files: 3, message_data: true, queue_size: 16 }\n"
      "alerts: { path: /a, max_size: 1GiB, max_files: 4, syslog: yes }\n"
      "store: { enabled: off, path: /s, retention: 2d, queue_size: 17 }\n"
      "flag: { ttl: 9m, block_reply: \"550 5.7.1 no\", max_entries: 77 }\ncontrol: { socket: /c.sock }\n",
      "t.yaml");
  CHECK(c.timeouts.tls_handshake == 7s);
  CHECK(c.limits.max_line == 1024);
  CHECK(c.http.listen == "[::1]:99");
  CHECK(c.transcripts.max_size == 64 * 1024);
  CHECK(c.alerts.syslog);
  CHECK(c.store.queue_size == 17);
  CHECK(c.flag.block_reply == "550 5.7.1 no");
  const std::string printed = effective_yaml(c);
  CHECK(printed.find("limits: {max_line: 1024}") != std::string::npos);
  CHECK(printed.find("transcripts: {enabled: false, path: /t, max_size: 64KiB, max_files: 3, message_data: true, "
                     "queue_size: 16}") != std::string::npos);
  CHECK(printed.find("flag: {ttl: 9m, block_reply: 550 5.7.1 no, max_entries: 77}") != std::string::npos);
  CHECK(printed.find("control: {socket: /c.sock}") != std::string::npos);
  CHECK(effective_yaml(parse_config(printed, "back.yaml")) == printed);
}

TEST_CASE("http.tls and http.basic_auth are read, checked, printed and read back") {
  const std::string hash = "$2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";
  REQUIRE(hash.size() == 60);
  const Config c = parse_config("http:\n  listen: \"0.0.0.0:9925\"\n  tls: { cert: /c.pem, key: /k.pem, client_ca: /ca.pem }\n"
                                "  basic_auth: { prometheus: \"" + hash + "\" }\n",
                                "t.yaml");
  CHECK(c.http.tls.cert == "/c.pem");
  CHECK(c.http.tls.client_ca == "/ca.pem");
  REQUIRE(c.http.basic_auth.size() == 1);
  CHECK(c.http.basic_auth[0].first == "prometheus");
  const std::string printed = effective_yaml(c);
  CHECK(effective_yaml(parse_config(printed, "back.yaml")) == printed);
  auto error_of = [](const std::string& yaml) {
    try {
      parse_config(yaml, "t.yaml");
    } catch (const ConfigErrors& e) {
      return e.errors().at(0).text();
    }
    return std::string();
  };
  CHECK(error_of("http: { basic_auth: { p: plain } }\n") ==
        "t.yaml:1:26: http.basic_auth.p: expected a bcrypt hash ($2y$10$... , 60 characters)");
  CHECK(error_of("http: { tls: { cert: /c.pem } }\n").find("t.yaml:1:14: http.tls: cert and key go together") == 0);
  CHECK(error_of("http: { tls: { crt: /c.pem } }\n").find("did you mean 'cert'") != std::string::npos);
  CHECK(error_of("flag: { max_entries: 0 }\n").find("flag.max_entries: must be between 1 and 10000000") != std::string::npos);
}
