// URL query strings ("a=1&b=%20x") as the HTTP endpoints and the report read them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::text {

struct QueryParam {
  std::string name;
  std::string value;  // "" for a name without '='
};

// The name=value pairs in order, %-decoded ('+' is a space); empty pairs are skipped.
// nullopt when a '%' is not followed by two hex digits.
std::optional<std::vector<QueryParam>> parse_query_string(std::string_view query);

}  // namespace smtp::text
