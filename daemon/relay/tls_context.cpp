#include "daemon/relay/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace smtp::daemon {
namespace {

// The pump hands SSL_write whatever is left of a short write, from wherever it keeps it.
constexpr long kModes = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS;
// A peer that closes without close_notify is an ordinary EOF for SMTP, whose own QUIT
// ends the dialogue; renegotiation is a denial-of-service lever we do not need.
constexpr std::size_t kReadBuffer = 64 * 1024;
constexpr long kOptions = SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;

std::unique_ptr<SSL_CTX, SslCtxFree> make_context(const SSL_METHOD* method, const std::string& what) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(method));
  if (!ctx) throw std::runtime_error(what + ": " + ssl_errors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), kModes);
  SSL_CTX_set_options(ctx.get(), kOptions);
  // Read whatever the socket has, several records at a time, instead of a header and
  // then a body per record: half the read() calls on a bulk transfer.
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  SSL_CTX_set_default_read_buffer_len(ctx.get(), kReadBuffer);
  return ctx;
}

}  // namespace

std::string ssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

TlsContexts::TlsContexts(const config::Tls& tls) {
  ERR_clear_error();
  server_ = make_context(TLS_server_method(), "TLS server context");
  // What was wrong in words an administrator uses first; OpenSSL's own text after it.
  if (SSL_CTX_use_certificate_chain_file(server_.get(), tls.cert.c_str()) != 1)
    throw std::runtime_error("tls.cert '" + tls.cert + "': not a PEM certificate chain OpenSSL can read (" +
                             ssl_errors() + ")");
  const auto mismatch = [&] { return "tls.key '" + tls.key + "' does not match tls.cert '" + tls.cert + "'"; };
  if (SSL_CTX_use_PrivateKey_file(server_.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks a readable key against the certificate already loaded.
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      throw std::runtime_error(mismatch());
    }
    throw std::runtime_error("tls.key '" + tls.key + "': not an unencrypted PEM private key OpenSSL can read (" +
                             ssl_errors() + ")");
  }
  if (SSL_CTX_check_private_key(server_.get()) != 1) throw std::runtime_error(mismatch());
  // No session cache: SMTP clients rarely resume, and a cache is memory an attacker fills.
  SSL_CTX_set_session_cache_mode(server_.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(server_.get(), 0);

  client_ = make_context(TLS_client_method(), "TLS client context");
  if (tls.verify == config::TlsVerify::ca_file) {
    if (SSL_CTX_load_verify_locations(client_.get(), tls.ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error("tls.ca_file '" + tls.ca_file + "': " + ssl_errors());
    SSL_CTX_set_verify(client_.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(client_.get(), SSL_VERIFY_NONE, nullptr);
  }
}

SslPtr TlsContexts::new_server_session() const { return SslPtr(SSL_new(server_.get())); }
SslPtr TlsContexts::new_client_session() const { return SslPtr(SSL_new(client_.get())); }

}  // namespace smtp::daemon
