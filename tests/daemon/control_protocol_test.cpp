#include "daemon/control/control_protocol.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace smtp::daemon::control;
using namespace std::chrono_literals;

namespace {
Request ok(std::string_view line) {
  auto r = parse_request(line);
  REQUIRE_MESSAGE(std::holds_alternative<Request>(r), std::string(line));
  return std::get<Request>(r);
}
std::string err(std::string_view line) {
  auto r = parse_request(line);
  REQUIRE_MESSAGE(std::holds_alternative<ParseError>(r), std::string(line));
  return std::get<ParseError>(r).message;
}
}  // namespace

TEST_CASE("control requests") {
  CHECK(ok("list\n").verb == Verb::list);
  CHECK(ok("list\r\n").verb == Verb::list);
  CHECK(ok("help").verb == Verb::help);
  CHECK(ok("quit").verb == Verb::quit);
  auto a = ok("add 192.0.2.1");
  CHECK(a.verb == Verb::add);
  CHECK(a.target == "192.0.2.1");
  CHECK_FALSE(a.ttl);
  CHECK_FALSE(a.block);
  a = ok("add 2001:db8::/48 ttl=2h action=block reason=spam run, ticket 42  ");
  CHECK(a.target == "2001:db8::/48");
  CHECK(a.ttl == std::chrono::milliseconds(2h));
  CHECK(a.block);
  CHECK(a.reason == "spam run, ticket 42");
  a = ok("add   10.0.0.0/8   action=flag");
  CHECK_FALSE(a.block);
  auto r = ok("remove 10.0.0.0/8");
  CHECK(r.verb == Verb::remove);
  CHECK(r.target == "10.0.0.0/8");
}

TEST_CASE("malformed control requests get a reason") {
  CHECK(err("") .find("empty") != std::string::npos);
  CHECK(err("   \n").find("empty") != std::string::npos);
  CHECK(err("frobnicate").find("unknown command") != std::string::npos);
  CHECK(err("list all").find("no arguments") != std::string::npos);
  CHECK(err("add").find("needs") != std::string::npos);
  CHECK(err("remove").find("needs") != std::string::npos);
  CHECK(err("remove 1.2.3.4 extra").find("no arguments") != std::string::npos);
  CHECK(err("add 1.2.3.4 ttl=soon").find("ttl") != std::string::npos);
  CHECK(err("add 1.2.3.4 ttl=0s").find("ttl") != std::string::npos);
  CHECK(err("add 1.2.3.4 action=drop").find("action") != std::string::npos);
  CHECK(err("add 1.2.3.4 ttl=1h ttl=2h").find("unexpected") != std::string::npos);
  CHECK(err("add 1.2.3.4 colour=red").find("unexpected") != std::string::npos);
  CHECK(err("add ttl=1h").find("not an IP") != std::string::npos);
  CHECK(err("add 1.2.3.4 reason=" + std::string(300, 'x')).find("reason") != std::string::npos);
  CHECK(err(std::string("list\x01")).find("control") != std::string::npos);
  CHECK(err(std::string(5000, 'a')).find("longer") != std::string::npos);
}
