// `smtp-sensor fleet init` (creates or upgrades the fleet database's schema, for sites
// where the sensors' own role may not run DDL) and `report --fleet` (SPEC 10).
#pragma once

#include "report/arguments.hpp"

#include <string_view>
#include <vector>

namespace smtp::daemon {

int fleet_command(const std::vector<std::string_view>& args);

// `smtp-sensor report --fleet ...`: the report over the fleet database (the URL from
// --fleet-url or -c FILE's fleet.url, the password from its fleet.password_file).
int fleet_report_command(const report::Arguments& args);

}  // namespace smtp::daemon
