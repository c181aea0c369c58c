// The HTTP endpoint's routes (SPEC section 7): what each path answers, from sources the server wires.
#pragma once

#include "daemon/asio.hpp"
#include "daemon/http/http_server.hpp"

#include <functional>
#include <string>

namespace smtp::daemon {

// Each source runs on the control thread, except store_path's report, which runs on
// the report pool so that a long report never holds up scrapes, signals or the drain.
struct RouteSources {
  std::function<std::string()> metrics;     // Prometheus text
  std::function<bool()> draining;           // /healthz answers 503 while draining
  std::function<std::string()> sessions;    // JSON array of live sessions
  std::function<std::string()> flagged;     // JSON array of flags
  std::function<std::string()> store_path;  // "" when the store is off
};

// /metrics, /healthz, /sessions, /flagged, /report and the report page (GET / and /ui/).
void add_routes(HttpServer& http, asio::thread_pool& reports, RouteSources sources);

}  // namespace smtp::daemon
