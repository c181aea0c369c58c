#include "daemon/http/routes.hpp"

#include "daemon/http/report_route.hpp"
#include "web/assets.hpp"

namespace smtp::daemon {

void add_routes(HttpServer& http, asio::thread_pool& reports, RouteSources sources) {
  auto src = std::make_shared<const RouteSources>(std::move(sources));
  http.route("/metrics", [src](const std::string&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", src->metrics()};
  });
  http.route("/healthz", [src](const std::string&) {
    return src->draining() ? HttpResponse{503, "text/plain; charset=utf-8", "draining\n"}
                           : HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
  });
  http.route("/sessions", [src](const std::string&) { return HttpResponse{200, "application/json", src->sessions()}; });
  http.route("/flagged", [src](const std::string&) { return HttpResponse{200, "application/json", src->flagged()}; });
  http.route_async("/report", [src, &reports](const std::string& query, HttpReply reply) {
    asio::post(reports, [query, store = src->store_path(), reply = std::move(reply)] { reply(report_response(store, query)); });
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
