// The HTTP endpoint (/metrics, /healthz, ...): a small Beast server on the control thread.
#pragma once

#include "daemon/asio.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace smtp::daemon {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};  // extra ones, e.g. Content-Disposition
};

// A handler gets the request target's query string (after '?', undecoded).
using HttpHandler = std::function<HttpResponse(const std::string& query)>;
// A slow handler answers later, from any thread, by calling reply exactly once.
using HttpReply = std::function<void(HttpResponse)>;
using AsyncHttpHandler = std::function<void(const std::string& query, HttpReply reply)>;

class HttpServer {
 public:
  HttpServer(asio::io_context& context, const tcp::endpoint& endpoint);  // throws on bind failure
  void route(std::string path, HttpHandler handler);
  void route_async(std::string path, AsyncHttpHandler handler) { routes_[std::move(path)] = std::move(handler); }
  // Called each time an accept fails for want of file descriptors (the server backs off).
  void on_out_of_descriptors(std::function<void()> hook) { out_of_descriptors_ = std::move(hook); }
  void start();
  void stop();
  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void accept();
  asio::io_context& context_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  std::function<void()> out_of_descriptors_;
  std::map<std::string, AsyncHttpHandler> routes_;
  friend class HttpConnection;
};

}  // namespace smtp::daemon
