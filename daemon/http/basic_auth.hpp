// HTTP basic auth against bcrypt hashes (SPEC section 12, the exporter-toolkit's
// web config): checked with libxcrypt's crypt_rn, never a hand-written bcrypt.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtp::daemon {

class BasicAuth {
 public:
  // users: (name, bcrypt hash). An empty list means every request passes.
  explicit BasicAuth(std::vector<std::pair<std::string, std::string>> users);
  bool enabled() const { return !users_.empty(); }
  // The value of an Authorization header is right. Slow (a bcrypt check, ~50 ms at cost
  // 10) unless the same credentials passed before: call it off the control thread. An
  // unknown user is checked against a configured hash too, so it costs the same time.
  bool check(std::string_view authorization);
  // Whether check would answer at once (the credentials passed before).
  bool cached(std::string_view authorization);

  // "Basic dXNlcjpwYXNz" -> ("user", "pass"); nullopt when malformed.
  static std::optional<std::pair<std::string, std::string>> decode(std::string_view authorization);

 private:
  std::vector<std::pair<std::string, std::string>> users_;
  std::mutex mutex_;
  std::set<std::string> passed_;  // SHA-256 of header values that passed; at most kCache
  static constexpr std::size_t kCache = 64;
};

}  // namespace smtp::daemon
