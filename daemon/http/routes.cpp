#include "daemon/http/routes.hpp"

#include "daemon/http/report_route.hpp"
#include "text/url_query.hpp"
#include "web/assets.hpp"

#include <charconv>
#include <optional>

namespace smtp::daemon {
namespace {

// ?limit=&offset= of /flagged: nullopt for anything but whole numbers in range.
std::optional<std::pair<std::size_t, std::size_t>> page_query(std::string_view query) {
  std::size_t limit = kFlaggedDefaultLimit, offset = 0;
  const auto params = text::parse_query_string(query);
  if (!params) return std::nullopt;
  for (const auto& [key, value] : *params) {
    std::size_t* out = key == "limit" ? &limit : key == "offset" ? &offset : nullptr;
    if (out == nullptr) continue;  // other keys are ignored, like a cache-buster
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), *out);
    if (value.empty() || ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
  }
  if (limit == 0 || limit > kFlaggedMaxLimit) return std::nullopt;
  return std::make_pair(offset, limit);
}

}  // namespace

void add_routes(HttpServer& http, asio::thread_pool& reports, RouteSources sources, asio::thread_pool* lists) {
  auto src = std::make_shared<const RouteSources>(std::move(sources));
  http.route("/metrics", [src](const std::string&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", src->metrics()};
  });
  http.route("/healthz", [src](const std::string&) {
    return src->draining() ? HttpResponse{503, "text/plain; charset=utf-8", "draining\n"}
                           : HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
  });
  http.route("/sessions", [src](const std::string&) { return HttpResponse{200, "application/json", src->sessions()}; });
  // Paginated, and built off the control thread: 100,000 flags are ~20 MB of JSON.
  http.route_async("/flagged", [src, pool = lists ? lists : &reports](const std::string& query, HttpReply reply) {
    const auto page = page_query(query);
    if (!page)
      return reply({400, "application/json",
                    "{\"error\":\"limit must be 1 to " + std::to_string(kFlaggedMaxLimit) + " and offset a whole number\"}\n"});
    asio::post(*pool, [src, page = *page, reply = std::move(reply)] {
      std::size_t total = 0;
      auto body = src->flagged(page.first, page.second, total);
      std::vector<std::pair<std::string, std::string>> headers{{"X-Total-Count", std::to_string(total)}};
      if (page.first + page.second < total)
        headers.emplace_back("Link", "</flagged?offset=" + std::to_string(page.first + page.second) +
                                         "&limit=" + std::to_string(page.second) + ">; rel=\"next\"");
      reply({200, "application/json", std::move(body), std::move(headers)});
    });
  });
  http.route_async("/report", [src, &reports](const std::string& query, HttpReply reply) {
    asio::post(reports, [src, query, store = src->store_path(), reply = std::move(reply)] {
      reply(report_response(store, query, kMaxReportBody, src->fleet_report));
    });
  });
  // The report page (GET / and its files under /ui/), compiled into the binary.
  for (const auto& asset : web::assets()) {
    http.route(std::string(asset.path), [&asset](const std::string&) {
      return HttpResponse{200, std::string(asset.content_type), std::string(asset.body),
                          {{"Content-Security-Policy", std::string(web::kContentSecurityPolicy)},
                           {"X-Content-Type-Options", "nosniff"},
                           {"Referrer-Policy", "no-referrer"}}};
    });
  }
}

}  // namespace smtp::daemon
