// The alert line (SPEC 6 and 15): key order, ips and ips_more, sensor and a unique id.
#include "daemon/sinks/alert_log.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace smtp::daemon;

TEST_CASE("an alert line: the keys in order, ips always, sensor and id last") {
  Alert a;
  a.type = "distributed_bruteforce";
  a.ip = "2001:db8:1:2::/64";
  a.listener = "smtp";
  a.action = "flag";
  a.detail = "caf\xc3\xa9 \xff";
  a.users = {"alice"};
  a.ips = {"192.0.2.1", "2001:db8:1:2::/64"};
  a.ips_more = 3;
  a.sensor = "mx1";
  a.id = "mx1-0000000000000001";
  const std::string j = to_json(a);
  const char* keys[] = {"\"ts\":", "\"type\":", "\"severity\":", "\"ip\":", "\"listener\":", "\"lcid\":", "\"count\":",
                        "\"threshold\":", "\"window_s\":", "\"action\":", "\"detail\":", "\"users\":", "\"ips\":",
                        "\"ips_more\":", "\"sensor\":", "\"id\":"};
  std::size_t at = 0;
  for (const char* k : keys) {
    CAPTURE(k);
    const auto p = j.find(k, at);
    REQUIRE(p != std::string::npos);
    at = p;
  }
  CHECK(j.find("\"ips\":[\"192.0.2.1\",\"2001:db8:1:2::/64\"],\"ips_more\":3,\"sensor\":\"mx1\",\"id\":\"mx1-0000000000000001\"}") !=
        std::string::npos);
  CHECK(j.find("caf\xc3\xa9 \xef\xbf\xbd") != std::string::npos);  // UTF-8 kept, an invalid byte U+FFFD
}

TEST_CASE("defaults: the host name, and ids unique and prefixed by it") {
  Alert a;
  a.type = "vrfy_expn";
  const std::string j = to_json(a);
  CHECK(j.find("\"ips\":[],\"ips_more\":0,\"sensor\":\"" + host_name() + "\",\"id\":\"" + host_name() + "-") !=
        std::string::npos);
  CHECK_FALSE(host_name().empty());
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(next_alert_id("mx1"));
  CHECK(ids.size() == 1000);
  CHECK(ids.begin()->starts_with("mx1-"));
  CHECK(ids.begin()->size() == 4 + 16);
}
