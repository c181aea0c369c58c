#include "fleet/schema.hpp"

#include <doctest/doctest.h>

#include <string_view>

using namespace smtp;

TEST_CASE("one migration per fleet schema version, each its own statement list") {
  const auto list = fleet::migrations();
  CHECK(list.size() == static_cast<std::size_t>(fleet::kSchemaVersion));
  // The first creates the sessions table keyed by (sensor, lcid), which shipping relies on.
  const std::string_view first = list[0];
  CHECK(first.find("CREATE TABLE sessions") != std::string_view::npos);
  CHECK(first.find("PRIMARY KEY (sensor, lcid)") != std::string_view::npos);
  // schema_version is created by ensure_schema under the lock, never by a migration.
  for (std::string_view m : list) CHECK(m.find("schema_version") == std::string_view::npos);
}

TEST_CASE("the URL check and description never need a server and never show the password") {
  CHECK_FALSE(fleet::check_url("postgresql://u:pw@db.example:5432/fleet?sslmode=verify-full").has_value());
  CHECK(fleet::check_url("postgresql://[::1/fleet").has_value());
  CHECK(fleet::check_url("postgresql://h/db?nosuchoption=1").has_value());
  const auto d = fleet::describe_url("postgresql://u:secret@db.example:5432/fleet");
  CHECK(d == "u@db.example:5432/fleet");
  CHECK(d.find("secret") == std::string::npos);
}
