#include "daemon/http/http_server.hpp"

#include "text/json.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>

namespace smtp::daemon {

HttpResponse json_error(unsigned status, std::string_view message) {
  return {status, "application/json", "{\"error\":" + text::json_string(message) + "}\n"};
}

namespace beast = boost::beast;
namespace http = boost::beast::http;

// The TCP layer under a plain or a TLS stream, for timeouts and closing.
inline beast::tcp_stream& tcp_layer(beast::tcp_stream& s) { return s; }
inline beast::tcp_stream& tcp_layer(beast::ssl_stream<beast::tcp_stream>& s) { return s.next_layer(); }

// One keep-alive connection. Requests are small and few (a scrape every few seconds), so
// a plain read-respond loop with a timeout is all it takes. Stream is beast::tcp_stream
// or, with http.tls, beast::ssl_stream over it.
template <class Stream>
class HttpConnection : public std::enable_shared_from_this<HttpConnection<Stream>> {
 public:
  HttpConnection(HttpServer& server, tcp::socket socket)
      : server_(server), open_(server.connections_), stream_(std::move(socket)) {
    ++*open_;
  }
  HttpConnection(HttpServer& server, tcp::socket socket, asio::ssl::context& tls)
      : server_(server), open_(server.connections_), stream_(std::move(socket), tls) {
    ++*open_;
  }
  ~HttpConnection() { --*open_; }

  // TLS: the handshake first, bounded like a request; a client speaking plain HTTP (or
  // without a required certificate) fails it and is closed.
  void handshake() {
    tcp_layer(stream_).expires_after(std::chrono::seconds(10));
    stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](const beast::error_code& ec) {
      if (ec) return self->close();
      self->read();
    });
  }

  void read() {
    request_ = {};
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);  // bound what a client can make us hold
    parser_->body_limit(64 * 1024);
    tcp_layer(stream_).expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
      if (!ec) {
        self->request_ = self->parser_->release();
        return self->respond();
      }
      if (const unsigned status = self->refusal(ec)) return self->refuse(status);
      self->close();
    });
  }

 private:
  static constexpr std::size_t kHeaderLimit = 16 * 1024;

  // What a request the parser gave up on gets: 414 for a request line that alone fills
  // the header limit, 431 for headers past it, 413 for a body past its limit, 400 for
  // anything malformed; 0 (a plain close) for a timeout or a peer that went away.
  unsigned refusal(const beast::error_code& ec) const {
    if (ec == http::error::header_limit) {
      const auto data = buffer_.cdata();
      const std::string_view head(static_cast<const char*>(data.data()), data.size());
      return head.find("\r\n") == std::string_view::npos ? 414 : 431;
    }
    if (ec == http::error::body_limit) return 413;
    if (ec.category() == http::make_error_code(http::error::bad_method).category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message)
      return 400;
    return 0;
  }

  void refuse(unsigned status) {
    request_ = {};
    request_.version(11);
    request_.keep_alive(false);  // the stream is out of step with the client: close after
    send({status, "text/plain; charset=utf-8", std::string(http::obsolete_reason(static_cast<http::status>(status))) + "\n"});
  }

  void respond() {
    const std::string target(request_.target());
    const auto q = target.find('?');
    const std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    if (request_.method() != http::verb::get && request_.method() != http::verb::head)
      return send({405, "text/plain; charset=utf-8", "method not allowed\n"});
    if (server_.authorize_ && path != "/healthz") {
      // The check may be slow (bcrypt) and answers from another thread: hop back first.
      const std::string authorization(request_[http::field::authorization]);
      return server_.authorize_(authorization, [self = this->shared_from_this(), path, query](bool ok) {
        asio::post(self->stream_.get_executor(), [self, ok, path, query] {
          if (ok) return self->route(path, query);
          if (self->server_.on_auth_failure_) self->server_.on_auth_failure_();
          self->send({401, "text/plain; charset=utf-8", "unauthorized\n", {{"WWW-Authenticate", "Basic realm=\"smtp-sensor\""}}});
        });
      });
    }
    route(path, query);
  }

  void route(const std::string& path, const std::string& query) {
    const auto it = server_.routes_.find(path);
    if (it == server_.routes_.end()) return send({404, "text/plain; charset=utf-8", "not found\n"});
    // The reply may come from another thread: it hops back to this connection's
    // executor (the control thread) before touching the stream.
    auto reply = [self = this->shared_from_this()](HttpResponse r) {
      asio::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable { self->send(std::move(r)); });
    };
    try {
      it->second(query, std::move(reply));
    } catch (const std::exception& e) {
      send({500, "text/plain; charset=utf-8", std::string("error: ") + e.what() + "\n"});
    }
  }

  void send(HttpResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), request_.version());
    res->set(http::field::server, "smtp-sensor");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(request_.keep_alive());
    // HEAD answers with the length the GET body would have, not with 0.
    if (request_.method() == http::verb::head) {
      res->content_length(r.body.size());
    } else {
      res->body() = std::move(r.body);
      res->prepare_payload();
    }
    tcp_layer(stream_).expires_after(std::chrono::seconds(30));  // a slow handler must not eat the write's time
    http::async_write(stream_, *res, [self = this->shared_from_this(), res](const beast::error_code& ec, std::size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    tcp_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer(stream_).close();
  }

  HttpServer& server_;
  std::shared_ptr<std::atomic<std::size_t>> open_;  // the server's count of live connections
  Stream stream_;
  beast::flat_buffer buffer_{kHeaderLimit + 8192};  // its limit: a request head past kHeaderLimit is refused first
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
};

std::shared_ptr<asio::ssl::context> make_http_tls(const std::string& cert, const std::string& key, const std::string& client_ca) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  auto step = [](const std::string& what, const std::string& file, auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      throw std::runtime_error(what + " " + file + ": " + e.what());
    }
  };
  step("http.tls.cert", cert, [&] { ctx->use_certificate_chain_file(cert); });
  step("http.tls.key", key, [&] { ctx->use_private_key_file(key, asio::ssl::context::pem); });
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    throw std::runtime_error("http.tls.key " + key + " does not match the certificate " + cert);
  if (!client_ca.empty()) {
    step("http.tls.client_ca", client_ca, [&] { ctx->load_verify_file(client_ca); });
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca.c_str()))
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    static const unsigned char kSessionContext[] = "smtp-sensor-http";
    SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext, sizeof kSessionContext - 1);
  }
  return ctx;
}

HttpServer::HttpServer(asio::io_context& context, const tcp::endpoint& endpoint)
    : context_(context), acceptor_(context), backoff_(context) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
}

void HttpServer::route(std::string path, HttpHandler handler) {
  routes_[std::move(path)] = [handler = std::move(handler)](const std::string& query, HttpReply reply) {
    reply(handler(query));
  };
}

void HttpServer::start() { accept(); }

void HttpServer::refuse(tcp::socket& socket) {
  if (!refusing_) {
    refusing_ = true;
    spdlog::warn("http: {} connections open, the most it holds: refusing new ones until half of them close", kMaxConnections);
  }
  error_code ignored;
  if (!tls_) {  // a fresh socket's send buffer is empty: the reply goes out whole or not at all
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 5\r\n\r\n";
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
  }
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void HttpServer::stop() {
  error_code ignored;
  acceptor_.close(ignored);
  backoff_.cancel();
}

void HttpServer::accept() {
  acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec && connections_->load() >= kMaxConnections) {
      refuse(socket);
    } else if (!ec) {
      if (refusing_ && connections_->load() < kMaxConnections / 2) {
        refusing_ = false;
        spdlog::info("http: {} connections open, taking new ones again", connections_->load());
      }
      if (tls_) std::make_shared<HttpConnection<beast::ssl_stream<beast::tcp_stream>>>(*this, std::move(socket), *tls_)->handshake();
      else std::make_shared<HttpConnection<beast::tcp_stream>>(*this, std::move(socket))->read();
    }
    if (ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system) {
      // Out of descriptors: back off as the SMTP acceptors do, so that this thread (which
      // also handles signals and the drain) does not spin on accept.
      if (out_of_descriptors_) out_of_descriptors_();
      backoff_.expires_after(std::chrono::milliseconds(100));
      return backoff_.async_wait([this](const error_code& e) {
        if (!e) accept();
      });
    }
    accept();
  });
}

}  // namespace smtp::daemon
