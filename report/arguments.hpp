// `smtp-sensor report` arguments: the query options plus where the store is.
#pragma once

#include "report/query.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace smtp::report {

struct Arguments {
  QueryInput input;
  std::string store;   // --store PATH
  std::string config;  // -c FILE, whose store.path is the default store
  // SPEC 10: --fleet and --sensor NAME go to input (fleet, sensors); the URL of the
  // fleet database, else -c FILE's fleet.url.
  std::string fleet_url;  // --fleet-url URI
};

// Throws QueryError for an unknown option or a missing value.
Arguments parse_arguments(const std::vector<std::string_view>& args);

extern const std::string_view kReportUsage;

}  // namespace smtp::report
