#include "daemon/reload_plan.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using smtp::config::Config;
using smtp::daemon::keep_restart_only;

namespace {
bool names(const std::vector<std::string>& kept, std::string_view key) {
  return std::find(kept.begin(), kept.end(), key) != kept.end();
}

smtp::config::Listener listener(std::string name, std::uint16_t port) {
  smtp::config::Listener l;
  l.name = std::move(name);
  l.listen.port = port;
  return l;
}
}  // namespace

TEST_CASE("reload: per-listener and detector settings apply, sinks and sockets keep their running values") {
  Config current;
  current.listeners = {listener("mx", 2525)};
  Config fresh = current;
  auto& l = fresh.listeners.front();
  l.upstream.host = std::string("192.0.2.5");
  l.upstream.port = 2525;
  l.max_connections = 7;
  l.proxy_protocol_in = true;
  fresh.detectors.auth_bruteforce.threshold = 3;
  fresh.transcripts.path = std::string("/elsewhere.log");
  fresh.threads = 9;
  l.listen.port = 2600;
  l.tls.mode = smtp::config::TlsMode::terminate;

  const auto kept = keep_restart_only(current, fresh);
  CHECK(names(kept, "transcripts.path"));
  CHECK(names(kept, "threads"));
  CHECK(names(kept, "listener 'mx' listen"));
  CHECK(names(kept, "listener 'mx' tls.mode"));
  CHECK(kept.size() == 4);
  CHECK(fresh.transcripts.path == current.transcripts.path);
  CHECK(fresh.threads == current.threads);
  CHECK(fresh.listeners.front().listen.text() == current.listeners.front().listen.text());
  CHECK(fresh.listeners.front().tls.mode == smtp::config::TlsMode::passthrough);
  // What applies now stays as the new file says.
  CHECK(fresh.listeners.front().upstream.text() == "192.0.2.5:2525");
  CHECK(fresh.listeners.front().max_connections == 7);
  CHECK(fresh.listeners.front().proxy_protocol_in);
  CHECK(fresh.detectors.auth_bruteforce.threshold == 3);
}

TEST_CASE("reload: listeners keep their places; added and removed ones wait for a restart") {
  Config current;
  current.listeners = {listener("a", 2525), listener("b", 2526)};
  Config fresh;
  fresh.listeners = {listener("b", 2526), listener("c", 2527)};  // "a" removed; "b" moved first; "c" added
  fresh.listeners[0].max_connections = 5;

  const auto kept = keep_restart_only(current, fresh);
  CHECK(names(kept, "listener 'a' (removed)"));
  CHECK(names(kept, "listener 'c' (added)"));
  REQUIRE(fresh.listeners.size() == 2);
  CHECK(fresh.listeners[0].name == "a");
  CHECK(fresh.listeners[1].name == "b");
  CHECK(fresh.listeners[1].max_connections == 5);  // b's change applies, in b's old place
}
