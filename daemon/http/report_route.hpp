// GET /report: the store report over HTTP (SPEC section 8), as JSON or CSV.
#pragma once

#include "daemon/http/http_server.hpp"
#include "report/query.hpp"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace smtp::daemon {

// The largest body GET /report builds in memory (a year of day x domain is ~90 MB of
// CSV, of hour x ip ~400 MB): past it the answer is a 400 that says how to ask for less.
inline constexpr std::size_t kMaxReportBody = 256u << 20;

// Runs the report the query string asks for against the store at path ("" when the
// store is off). Blocks for as long as the report takes: call it off the control thread.
// SPEC 10: runs a fleet=1 query against the fleet database, writing the text in pieces;
// throws report::StoreUnavailable when the database cannot be reached. Empty: no fleet.
using FleetReport = std::function<void(const report::Query&, const std::function<void(std::string_view)>&)>;

// With a fleet, every answer carries "X-Fleet: 1" so the page shows its switch between
// this sensor and the whole fleet.
HttpResponse report_response(const std::string& store_path, const std::string& query,
                             std::size_t max_body = kMaxReportBody, const FleetReport& fleet = {});

}  // namespace smtp::daemon
