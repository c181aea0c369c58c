#include "daemon/http/report_route.hpp"
#include "store/session_store.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

using namespace std::chrono_literals;

TEST_CASE("GET /report refuses an answer larger than its cap instead of holding it") {
  const auto dir = std::filesystem::temp_directory_path() / ("report-route-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "sessions.db").string();
  {
    smtp::store::SessionStore store(path, 100 * 365 * 24h, 100);
    for (std::uint64_t i = 0; i < 40; ++i) {
      smtp::store::SessionRecord r;
      r.lcid = i + 1;
      r.start_ms = 1'795'000'000'000 + static_cast<std::int64_t>(i) * 3'600'000;  // 2026-11-18 08:53 UTC, hourly
      r.end_ms = r.start_ms + 1000;
      r.client_ip = "192.0.2." + std::to_string(i);
      r.domain = "example.com";
      r.termination = "quit";
      store.submit(r);
    }
    store.flush();
  }
  const std::string query = "from=2026-11-18&to=2026-11-20&tz=UTC&step=hour&mode=ip&format=csv";
  const auto whole = smtp::daemon::report_response(path, query);
  CHECK(whole.status == 200);
  CHECK(whole.body.size() > 1000);  // a header and 40 rows
  const auto capped = smtp::daemon::report_response(path, query, 1000);
  CHECK(capped.status == 400);
  CHECK(capped.body.find("the report is larger than") != std::string::npos);
  CHECK(capped.content_type == "application/json");
  std::filesystem::remove_all(dir);
}
