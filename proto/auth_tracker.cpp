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

// Seqs wrap around; within one session a later line has a later seq, modulo 2^32.
constexpr bool at_or_after(std::uint32_t seq, std::uint32_t start) noexcept {
  return static_cast<std::int32_t>(seq - start) >= 0;
}

}  // namespace

void AuthTracker::reset() noexcept {
  for (auto& x : ex_) {
    x.open = false;
    x.seq = 0;
    x.user.clear();
  }
}

bool AuthTracker::make_room(AuthAttempt& out) noexcept {
  Exchange& x = ex_[(cur_ + 1) % slots];  // the oldest, which start() reuses
  if (!x.open) return false;
  // Its final reply is still to come, but the decoder follows only `slots` exchanges at once.
  fill(x, out, AuthResult::aborted, 0, {});
  x.open = false;
  return true;
}

void AuthTracker::start(std::uint32_t seq, AuthMechanism mechanism, std::string_view name,
                        std::string_view initial_response, bool advertised) {
  cur_ = static_cast<std::uint8_t>((cur_ + 1) % slots);
  Exchange& x = ex_[cur_];
  x.open = true;
  x.mechanism = mechanism;
  x.advertised = advertised;
  x.seq = seq;
  x.responses = x.lines = x.challenges = 0;
  x.read_first = false;
  x.user.clear();
  x.name_len = static_cast<std::uint8_t>(std::min(name.size(), x.name.size()));
  for (std::size_t i = 0; i < x.name_len; ++i) {
    const char c = name[i];
    x.name[i] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  }
  const bool ir = !initial_response.empty();
  // Client steps per mechanism. An unknown one cannot be followed; a line whose replies cannot be paired
  // (not queued) would hide a 334: both redact every line until the final reply.
  x.paranoid = x.lost = seq == 0;
  switch (mechanism) {
    case AuthMechanism::plain:
    case AuthMechanism::xoauth2:
      x.steps = ir ? 0 : 1;
      break;
    case AuthMechanism::login:  // username, then password
      x.steps = ir ? 1 : 2;
      break;
    case AuthMechanism::cram_md5:  // answers the server's challenge, which no initial response can
      x.steps = 1;
      break;
    case AuthMechanism::none:
    case AuthMechanism::other:
      x.steps = 0;
      x.paranoid = true;
      break;
  }
  if (mechanism == AuthMechanism::cram_md5 && ir) ++x.responses;  // not the response: no username in it
  else if (ir) note_response(x, initial_response == "=" ? std::string_view{} : initial_response);
}

bool AuthTracker::expects_response() const noexcept {
  const Exchange& x = ex_[cur_];
  return x.open && (x.paranoid || x.steps > 0 || x.challenges > x.lines);
}

void AuthTracker::response(std::string_view line, std::uint32_t seq) {
  Exchange& x = ex_[cur_];
  if (!x.open) return;
  ++x.lines;
  if (x.seq == 0) x.seq = seq;
  if (seq == 0) x.lost = true;
  note_response(x, line);
  if (line == "*") {  // the client gave up: nothing more of its will be a credential
    x.steps = 0;
    x.paranoid = false;
    return;
  }
  if (x.steps > 0) --x.steps;
  if (seq == 0) x.paranoid = true;
}

void AuthTracker::command(std::uint32_t seq) noexcept {
  Exchange& x = ex_[cur_];
  if (!x.open) return;
  ++x.lines;
  if (x.seq == 0) x.seq = seq;
  if (seq == 0) x.paranoid = x.lost = true;
}

void AuthTracker::note_response(Exchange& x, std::string_view line) {
  ++x.responses;
  if (line == "*" || x.read_first) return;
  x.read_first = true;
  if (!line.empty()) read_username(x, line);
}

void AuthTracker::read_username(Exchange& x, std::string_view b64) {
  if (b64.size() > 1024 && x.mechanism == AuthMechanism::cram_md5) return;  // a cut response has no sure split
  std::array<char, max_decoded> buf;
  bool ok = false;
  const std::size_t n = base64_decode(b64.substr(0, 1024), buf.data(), buf.size(), ok);
  const std::string_view d(buf.data(), n);
  std::string_view user;
  if (ok) {
    switch (x.mechanism) {
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
  assign_sanitized(x.user, user);
  secure_wipe(buf.data(), buf.size());
}

void AuthTracker::fill(const Exchange& x, AuthAttempt& out, AuthResult result, std::uint16_t code,
                       std::string_view enhanced) noexcept {
  out = AuthAttempt{};
  out.mechanism = x.mechanism;
  out.mechanism_name = std::string_view(x.name.data(), x.name_len);
  out.username = x.user;
  out.result = result;
  out.reply_code = code;
  out.enhanced = enhanced;
  out.advertised = x.advertised;
  out.responses = x.responses;
}

int AuthTracker::owner(std::uint32_t seq) const noexcept {
  for (std::size_t k = 0; k < slots; ++k) {  // newest first: the latest AUTH at or before the line owns it
    const auto i = (cur_ + slots - k) % slots;
    const Exchange& x = ex_[i];
    if (x.seq == 0) continue;  // unused, or nothing of it queued yet: no reply can be its
    if (at_or_after(seq, x.seq)) return x.open ? static_cast<int>(i) : -1;
  }
  return -1;
}

bool AuthTracker::owns(std::uint32_t seq) const noexcept { return owner(seq) >= 0; }

bool AuthTracker::reply(const Reply& r, std::uint32_t seq, bool to_command, bool to_abort_line, bool advertised,
                        AuthAttempt& out) noexcept {
  const int i = owner(seq);
  if (i < 0) return false;
  Exchange& x = ex_[static_cast<std::size_t>(i)];
  x.advertised = x.advertised || advertised;
  if (r.code == 334) {
    ++x.challenges;
    return false;
  }
  AuthResult result = AuthResult::failure;
  const bool refused_verb = r.code == 500 || r.code == 502 || r.code == 503 || r.code == 504;
  if (x.lost) result = AuthResult::aborted;  // this reply may answer a later line: the outcome is unknown
  else if (r.klass() == 2) result = AuthResult::success;
  else if (to_abort_line) result = AuthResult::aborted;
  else if (!x.advertised || (to_command && refused_verb)) result = AuthResult::unadvertised;
  fill(x, out, result, r.code, r.enhanced);
  x.open = false;
  return true;
}

bool AuthTracker::end_of_session(AuthAttempt& out) noexcept {
  for (std::size_t k = slots; k-- > 0;) {  // oldest first
    Exchange& x = ex_[(cur_ + slots - k) % slots];
    if (!x.open) continue;
    fill(x, out, AuthResult::aborted, 0, {});
    x.open = false;
    return true;
  }
  return false;
}

}  // namespace smtp::proto
