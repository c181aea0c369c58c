#include "daemon/http/report_route.hpp"

#include "report/format.hpp"
#include "report/report.hpp"

namespace smtp::daemon {
namespace {

// Thrown out of the report's output callback to stop a report that outgrows the cap.
struct TooLarge {};

HttpResponse answer(const std::string& store_path, const std::string& query, std::size_t max_body,
                    const FleetReport& fleet) {
  try {
    const auto q = report::parse_query(report::parse_url_query(query), report::Syntax::http, report::Format::json);
    std::string body;
    auto write = [&](std::string_view text) {
      if (body.size() + text.size() > max_body) throw TooLarge{};
      body += text;
    };
    if (q.fleet) {
      if (!fleet) return json_error(503, "no fleet database configured (fleet.url is empty)");
      fleet(q, write);
    } else {
      if (store_path.empty()) return json_error(503, "no session store configured (store.enabled is false)");
      report::write_report(store_path, q, write);
    }
    if (q.format == report::Format::csv)
      return {200, "text/csv; charset=utf-8", std::move(body),
              {{"Content-Disposition", "attachment; filename=\"" + report::csv_filename(q) + "\""}}};
    if (q.format == report::Format::table) return {200, "text/plain; charset=utf-8", std::move(body)};
    return {200, "application/json", std::move(body)};
  } catch (const TooLarge&) {
    return json_error(400, "the report is larger than " + std::to_string(max_body >> 20) +
                          " MiB: narrow the range, use a coarser step or top=, or run smtp-sensor report");
  } catch (const report::QueryError& e) {
    return json_error(400, e.what());
  } catch (const report::StoreUnavailable& e) {
    return json_error(503, e.what());
  } catch (const std::exception& e) {
    return json_error(500, e.what());
  }
}

}  // namespace

HttpResponse report_response(const std::string& store_path, const std::string& query, std::size_t max_body,
                             const FleetReport& fleet) {
  auto r = answer(store_path, query, max_body, fleet);
  if (fleet) r.headers.emplace_back("X-Fleet", "1");
  return r;
}

}  // namespace smtp::daemon
