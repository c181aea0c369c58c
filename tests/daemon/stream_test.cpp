// Stream under TLS, over a real loopback connection: what a write_some call covers.
#include "daemon/relay/stream.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

using namespace smtp::daemon;
using boost::asio::ip::tcp;

namespace {

// A throwaway EC certificate and key in a temporary directory, made with OpenSSL itself.
struct TestCert {
  std::filesystem::path dir;
  std::string cert, key;
  TestCert() {
    dir = std::filesystem::temp_directory_path() / ("stream_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = std::fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~TestCert() { std::filesystem::remove_all(dir); }
};

// Two Streams joined over 127.0.0.1, TLS handshaken: `client` in the client role.
struct TlsPair {
  boost::asio::io_context io;
  TestCert files;
  std::unique_ptr<TlsContexts> contexts;
  Stream server{io}, client{io};

  TlsPair() {
    smtp::config::Tls tls;
    tls.mode = smtp::config::TlsMode::terminate;
    tls.cert = files.cert;
    tls.key = files.key;
    contexts = std::make_unique<TlsContexts>(tls);
    tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    client.socket().connect(acceptor.local_endpoint());
    acceptor.accept(server.socket());
    server.socket().non_blocking(true);
    client.socket().non_blocking(true);
    std::string server_done = "-", client_done = "-";
    server.async_handshake(contexts->new_server_session(), true, [&](std::string why) { server_done = why; });
    client.async_handshake(contexts->new_client_session(), false, [&](std::string why) { client_done = why; });
    io.run();
    io.restart();
    REQUIRE(server_done == "");
    REQUIRE(client_done == "");
  }

  // Reads on the server side until `want` bytes came or nothing more is there.
  std::string drain(std::size_t want) {
    std::string got;
    std::vector<char> buf(64 * 1024);
    for (int idle = 0; got.size() < want && idle < 200;) {
      boost::system::error_code ec;
      const std::size_t n = server.read_some(buf, ec);
      if (ec == boost::asio::error::would_block) {
        ++idle;
        ::usleep(1000);
        continue;
      }
      REQUIRE_FALSE(ec);
      got.append(buf.data(), n);
    }
    return got;
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return s;
}

}  // namespace

// OpenSSL returns from SSL_write after each 16 KB record (SSL_MODE_ENABLE_PARTIAL_WRITE);
// the pump reads a short count as "the socket is full" and waits for writability.
TEST_CASE("a TLS write_some writes every record the socket takes, not only the first") {
  TlsPair p;
  const std::string body = pattern(64 * 1024);
  boost::system::error_code ec;
  const std::size_t n = p.client.write_some(body, ec);
  CHECK_FALSE(ec);
  CHECK(n == body.size());  // four records in one call, while the socket buffer has room
  const bool same = p.drain(body.size()) == body;  // compared whole, not printed
  CHECK(same);
}

TEST_CASE("a TLS write_some that fills the socket reports what it wrote, and the rest follows byte-exact") {
  TlsPair p;
  const std::string body = pattern(8 * 1024 * 1024);  // far more than loopback buffers hold
  boost::system::error_code ec;
  std::size_t sent = p.client.write_some(body, ec);
  CHECK_FALSE(ec);  // bytes were written, so no error, although the last record may wait
  CHECK(sent > 0);
  CHECK(sent < body.size());
  // The next call is told to wait, and writes nothing.
  CHECK(p.client.write_some(std::string_view(body).substr(sent), ec) == 0);
  CHECK(ec == boost::asio::error::would_block);

  std::string got;
  std::vector<char> buf(64 * 1024);
  bool write_failed = false;
  while (got.size() < body.size() && !write_failed) {
    if (sent < body.size()) {
      sent += p.client.write_some(std::string_view(body).substr(sent), ec);
      write_failed = ec && ec != boost::asio::error::would_block;
    }
    const std::size_t n = p.server.read_some(buf, ec);
    if (ec == boost::asio::error::would_block) continue;
    REQUIRE_FALSE(ec);
    got.append(buf.data(), n);
  }
  CHECK_FALSE(write_failed);
  CHECK(sent == body.size());
  const bool same = got == body;
  CHECK(same);
}
