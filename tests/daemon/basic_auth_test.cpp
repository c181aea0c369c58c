#include "daemon/http/basic_auth.hpp"

#include <crypt.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

using smtp::daemon::BasicAuth;

namespace {
// A bcrypt hash made by libxcrypt itself (cost 4 keeps the test fast).
std::string bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt) != nullptr);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* h = crypt_rn(password.c_str(), salt, data.get(), sizeof(crypt_data));
  REQUIRE(h != nullptr);
  return h;
}
std::string header(const std::string& user, const std::string& pass) {
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + pass;
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += i + 1 < in.size() ? b64[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? b64[v & 63] : '=';
  }
  return "Basic " + out;
}
}  // namespace

TEST_CASE("basic auth: decode") {
  auto d = BasicAuth::decode(header("prometheus", "s3cret:with:colons"));
  REQUIRE(d);
  CHECK(d->first == "prometheus");
  CHECK(d->second == "s3cret:with:colons");
  CHECK(BasicAuth::decode(header("a", "")));
  CHECK_FALSE(BasicAuth::decode(""));
  CHECK_FALSE(BasicAuth::decode("Bearer abc"));
  CHECK_FALSE(BasicAuth::decode("Basic !!!!"));
  CHECK_FALSE(BasicAuth::decode("Basic bm9jb2xvbg=="));  // "nocolon"
}

TEST_CASE("basic auth: right, wrong, unknown, absent") {
  BasicAuth none({});
  CHECK_FALSE(none.enabled());
  CHECK(none.check(""));
  BasicAuth auth({{"prometheus", bcrypt("right")}, {"alice", bcrypt("other")}});
  CHECK(auth.enabled());
  CHECK(auth.check(header("prometheus", "right")));
  CHECK(auth.cached(header("prometheus", "right")));
  CHECK(auth.check(header("alice", "other")));
  CHECK_FALSE(auth.check(header("prometheus", "wrong")));
  CHECK_FALSE(auth.check(header("alice", "right")));
  CHECK_FALSE(auth.check(header("mallory", "right")));  // unknown user, a password right for someone else
  CHECK_FALSE(auth.check(""));
  CHECK_FALSE(auth.check("Basic garbage"));
  CHECK_FALSE(auth.cached(header("prometheus", "wrong")));
}
