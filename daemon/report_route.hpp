// GET /report: the store report over HTTP (SPEC section 8), as JSON or CSV.
#pragma once

#include "daemon/http_server.hpp"

#include <string>

namespace smtp::daemon {

// Runs the report the query string asks for against the store at path ("" when the
// store is off). Blocks for as long as the report takes: call it off the control thread.
HttpResponse report_response(const std::string& store_path, const std::string& query);

}  // namespace smtp::daemon
