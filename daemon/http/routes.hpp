// The HTTP endpoint's routes (SPEC section 7): what each path answers, from sources the server wires.
#pragma once

#include "daemon/asio.hpp"
#include "daemon/http/http_server.hpp"
#include "daemon/http/report_route.hpp"

#include <functional>
#include <string>

namespace smtp::daemon {

// Each source runs on the control thread, except store_path's report, which runs on
// the report pool so that a long report never holds up scrapes, signals or the drain.
struct RouteSources {
  std::function<std::string()> metrics;     // Prometheus text
  std::function<bool()> draining;           // /healthz answers 503 while draining
  std::function<std::string()> sessions;    // JSON array of live sessions
  // One page of /flagged as a JSON array (offset, limit); total gets the number of flags.
  // Runs on the list pool, never on the control thread.
  std::function<std::string(std::size_t offset, std::size_t limit, std::size_t& total)> flagged;
  std::function<std::string()> store_path;  // "" when the store is off
  FleetReport fleet_report;                 // SPEC 10, on the report pool; empty: no fleet
};

// GET /flagged pages: ?limit= (default 1000, at most 10,000) and ?offset=.
inline constexpr std::size_t kFlaggedDefaultLimit = 1000;
inline constexpr std::size_t kFlaggedMaxLimit = 10'000;

// /metrics, /healthz, /sessions, /flagged, /report and the report page (GET / and /ui/).
// /flagged is built on lists (the report pool when null).
void add_routes(HttpServer& http, asio::thread_pool& reports, RouteSources sources, asio::thread_pool* lists = nullptr);

}  // namespace smtp::daemon
