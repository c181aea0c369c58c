// The HTTP endpoint (/metrics, /healthz, ...): a small Beast server on the control thread.
#pragma once

#include "daemon/asio.hpp"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtp::daemon {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};  // extra ones, e.g. Content-Disposition
};

// {"error": message} with the status, as every JSON endpoint answers a request it refuses.
HttpResponse json_error(unsigned status, std::string_view message);

// A handler gets the request target's query string (after '?', undecoded).
using HttpHandler = std::function<HttpResponse(const std::string& query)>;
// A slow handler answers later, from any thread, by calling reply exactly once.
using HttpReply = std::function<void(HttpResponse)>;
using AsyncHttpHandler = std::function<void(const std::string& query, HttpReply reply)>;

// Basic auth (SPEC 12): called for every request but /healthz with its Authorization
// header ("" when absent); answers through done(ok) exactly once, from any thread.
using HttpAuthorize = std::function<void(std::string authorization, std::function<void(bool)> done)>;

// The HTTPS context of http.tls: the certificate chain and key (PEM), and with client_ca
// the CAs a client certificate must chain to (then a client without one fails the
// handshake). TLS 1.2 or later. Throws std::runtime_error naming the file that failed.
std::shared_ptr<asio::ssl::context> make_http_tls(const std::string& cert, const std::string& key, const std::string& client_ca);

class HttpServer {
 public:
  // Connections open at once, each held at most 30 s without a request: beyond this a new
  // one is answered 503 (plain HTTP) or closed (HTTPS) at once, so that no client can make
  // the daemon hold sockets and buffers without bound. Prometheus and a few browsers use
  // a handful.
  static constexpr std::size_t kMaxConnections = 256;

  HttpServer(asio::io_context& context, const tcp::endpoint& endpoint);  // throws on bind failure
  // HTTPS only from now on, for new connections: the context holds the certificate and,
  // for client certificates, the CA and the verify mode. Call again to reload; on the
  // control thread.
  void use_tls(std::shared_ptr<asio::ssl::context> tls) { tls_ = std::move(tls); }
  bool tls() const { return tls_ != nullptr; }
  void require_auth(HttpAuthorize authorize, std::function<void()> on_failure) {
    authorize_ = std::move(authorize);
    on_auth_failure_ = std::move(on_failure);
  }
  void route(std::string path, HttpHandler handler);
  void route_async(std::string path, AsyncHttpHandler handler) { routes_[std::move(path)] = std::move(handler); }
  // Called each time an accept fails for want of file descriptors (the server backs off).
  void on_out_of_descriptors(std::function<void()> hook) { out_of_descriptors_ = std::move(hook); }
  void start();
  void stop();
  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void accept();
  void refuse(tcp::socket& socket);
  asio::io_context& context_;
  // Live connections, shared with each of them: counted down wherever the last owner of
  // one lets go (a slow handler's reply, on its own thread; or the control context's
  // teardown, after this server is gone).
  std::shared_ptr<std::atomic<std::size_t>> connections_ = std::make_shared<std::atomic<std::size_t>>(0);
  bool refusing_ = false;  // the cap was met: said once in the log until it frees again
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  std::function<void()> out_of_descriptors_;
  std::map<std::string, AsyncHttpHandler> routes_;
  std::shared_ptr<asio::ssl::context> tls_;
  HttpAuthorize authorize_;
  std::function<void()> on_auth_failure_;
  template <class Stream>
  friend class HttpConnection;
};

}  // namespace smtp::daemon
