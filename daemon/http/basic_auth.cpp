#include "daemon/http/basic_auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <memory>

namespace smtp::daemon {
namespace {

std::string sha256(std::string_view s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return std::string(reinterpret_cast<const char*>(d), sizeof d);
}

// crypt_rn into a zeroed crypt_data; "" on failure (crypt_rn returns null, never "*0").
std::string crypt_hash(const std::string& password, const std::string& setting) {
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(password.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  return out ? std::string(out) : std::string();
}

bool same(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

BasicAuth::BasicAuth(std::vector<std::pair<std::string, std::string>> users) : users_(std::move(users)) {}

std::optional<std::pair<std::string, std::string>> BasicAuth::decode(std::string_view h) {
  if (h.size() < 6 || h.size() > 1024) return std::nullopt;
  if (!(h.substr(0, 6) == "Basic " || h.substr(0, 6) == "basic ")) return std::nullopt;
  h.remove_prefix(6);
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  if (h.empty() || h.size() % 4 != 0) return std::nullopt;
  std::string out(h.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(h.data()),
                                static_cast<int>(h.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  if (h.ends_with("==")) len -= 2;
  else if (h.ends_with("=")) len -= 1;
  out.resize(len);
  const auto colon = out.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(out.substr(0, colon), out.substr(colon + 1));
}

bool BasicAuth::cached(std::string_view authorization) {
  if (users_.empty()) return true;
  const auto key = sha256(authorization);
  std::lock_guard lock(mutex_);
  return passed_.count(key) != 0;
}

bool BasicAuth::check(std::string_view authorization) {
  if (users_.empty()) return true;
  if (cached(authorization)) return true;
  const auto creds = decode(authorization);
  // A missing or malformed header and an unknown user still pay for one bcrypt run,
  // against the first configured hash, so that the time tells nothing.
  const std::string password = creds ? creds->second : std::string();
  const std::string* hash = &users_.front().second;
  bool known = false;
  if (creds)
    for (const auto& [user, h] : users_)
      if (same(user, creds->first)) hash = &h, known = true;
  const bool ok = same(crypt_hash(password, *hash), *hash) && known;
  if (ok) {
    std::lock_guard lock(mutex_);
    if (passed_.size() >= kCache) passed_.clear();
    passed_.insert(sha256(authorization));
  }
  return ok;
}

}  // namespace smtp::daemon
