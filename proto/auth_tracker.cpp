#include "proto/auth_tracker.hpp"

#include <algorithm>

#include "proto/base64.hpp"

namespace smtp::proto {
namespace {

constexpr std::size_t max_username = 256;
constexpr std::size_t max_decoded = 768;  // 1024 base64 characters

// Control bytes would let a username forge transcript or log lines.
void assign_sanitized(std::string& dst, std::string_view src) {
  src = src.substr(0, max_username);
  dst.assign(src);
  for (auto& ch : dst) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) ch = '?';
  }
}

}  // namespace

void AuthTracker::reset() noexcept {
  open_ = false;
  user_.clear();
}

void AuthTracker::start(AuthMechanism mechanism, std::string_view name, std::string_view initial_response,
                        bool advertised) {
  open_ = true;
  mechanism_ = mechanism;
  advertised_ = advertised;
  responses_ = 0;
  read_first_ = false;
  user_.clear();
  name_len_ = static_cast<std::uint8_t>(std::min(name.size(), name_.size()));
  for (std::size_t i = 0; i < name_len_; ++i) {
    const char c = name[i];
    name_[i] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  if (!initial_response.empty()) response(initial_response == "=" ? std::string_view{} : initial_response);
}

void AuthTracker::response(std::string_view line) {
  ++responses_;
  if (line == "*" || read_first_) return;
  read_first_ = true;
  if (!line.empty()) read_username(line);
}

void AuthTracker::read_username(std::string_view b64) {
  if (b64.size() > 1024 && mechanism_ == AuthMechanism::cram_md5) return;  // a cut response has no sure split
  std::array<char, max_decoded> buf;
  bool ok = false;
  const std::size_t n = base64_decode(b64.substr(0, 1024), buf.data(), buf.size(), ok);
  const std::string_view d(buf.data(), n);
  std::string_view user;
  if (ok) {
    switch (mechanism_) {
      case AuthMechanism::plain: {  // authzid NUL authcid NUL passwd: never look past the second NUL
        const auto a = d.find('\0');
        const auto b = a == std::string_view::npos ? a : d.find('\0', a + 1);
        if (b != std::string_view::npos) {
          user = d.substr(a + 1, b - a - 1);
          if (user.empty()) user = d.substr(0, a);
        }
        break;
      }
      case AuthMechanism::login:  // the first response is the username itself
        user = d;
        break;
      case AuthMechanism::cram_md5: {  // "user hex-digest"
        const auto sp = d.rfind(' ');
        if (sp != std::string_view::npos) user = d.substr(0, sp);
        break;
      }
      case AuthMechanism::xoauth2: {  // "user=NAME^Aauth=Bearer TOKEN^A^A"
        if (d.substr(0, 5) == "user=") {
          const auto end = d.find('\x01');
          if (end != std::string_view::npos) user = d.substr(5, end - 5);
        }
        break;
      }
      case AuthMechanism::none:
      case AuthMechanism::other:
        break;
    }
  }
  assign_sanitized(user_, user);
  secure_wipe(buf.data(), buf.size());
}

void AuthTracker::fill(AuthAttempt& out, AuthResult result, std::uint16_t code, std::string_view enhanced) const noexcept {
  out = AuthAttempt{};
  out.mechanism = mechanism_;
  out.mechanism_name = std::string_view(name_.data(), name_len_);
  out.username = user_;
  out.result = result;
  out.reply_code = code;
  out.enhanced = enhanced;
  out.advertised = advertised_;
  out.responses = responses_;
}

bool AuthTracker::reply(const Reply& r, bool to_command, bool to_abort_line, AuthAttempt& out) noexcept {
  if (!open_ || r.code == 334) return false;
  AuthResult result = AuthResult::failure;
  const bool refused_verb = r.code == 500 || r.code == 502 || r.code == 503 || r.code == 504;
  if (r.klass() == 2) result = AuthResult::success;
  else if (to_abort_line) result = AuthResult::aborted;
  else if (!advertised_ || (to_command && refused_verb)) result = AuthResult::unadvertised;
  fill(out, result, r.code, r.enhanced);
  open_ = false;
  return true;
}

bool AuthTracker::end_of_session(AuthAttempt& out) noexcept {
  if (!open_) return false;
  fill(out, AuthResult::aborted, 0, {});
  open_ = false;
  return true;
}

}  // namespace smtp::proto
