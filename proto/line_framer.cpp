#include "proto/line_framer.hpp"

#include <algorithm>
#include <cstring>

namespace smtp::proto {

void LineFramer::restart() noexcept {
  buf_.clear();
  total_ = 0;
  cr_pending_ = bare_cr_ = done_ = overflow_ = overflow_told_ = false;
}

void LineFramer::reset() noexcept { restart(); }

void LineFramer::release() noexcept {
  if (!partial()) {
    restart();
    std::string().swap(buf_);
  }
}

std::string_view LineFramer::partial_text() const noexcept {
  if (!partial()) return {};
  const auto content = total_ - (cr_pending_ ? 1 : 0);
  return std::string_view(buf_.data(), static_cast<std::size_t>(std::min<std::uint64_t>(content, max_line_)));
}

bool LineFramer::take_overflow() noexcept {
  if (overflow_ && !overflow_told_ && !done_) {
    overflow_told_ = true;
    return true;
  }
  return false;
}

void LineFramer::absorb(const char* p, std::size_t n) {
  if (n == 0) return;
  // A CR followed by anything but LF is bare; the last byte's CR is decided by the next byte.
  if (cr_pending_ || (n > 1 && std::memchr(p, '\r', n - 1) != nullptr)) bare_cr_ = true;
  cr_pending_ = p[n - 1] == '\r';
  // One spare byte, so a CR terminator that arrives apart from its LF never costs a content byte.
  const std::size_t keep = max_line_ + 1;
  if (buf_.size() < keep) buf_.append(p, std::min(n, keep - buf_.size()));
  total_ += n;
  if (total_ - (cr_pending_ ? 1 : 0) > max_line_) overflow_ = true;
}

bool LineFramer::next(std::string_view& in, Line& out) {
  if (done_) restart();
  const char* p = in.data();
  const std::size_t n = in.size();
  const void* hit = n != 0 ? std::memchr(p, '\n', n) : nullptr;
  if (hit == nullptr) {
    absorb(p, n);
    in = {};
    return false;
  }
  const auto len = static_cast<std::size_t>(static_cast<const char*>(hit) - p);
  in.remove_prefix(len + 1);
  done_ = true;
  if (total_ == 0) {  // the whole line is inside this input: hand out a view, copy nothing
    const bool crlf = len > 0 && p[len - 1] == '\r';
    const std::size_t content = len - (crlf ? 1 : 0);
    out.text = std::string_view(p, std::min(content, max_line_));
    out.length = len + 1;
    out.crlf = crlf;
    out.over_long = content > max_line_;
    out.bare_cr = content > 0 && std::memchr(p, '\r', content) != nullptr;
    out.overflow_reported = false;
    return true;
  }
  absorb(p, len);
  const bool crlf = cr_pending_;
  const std::uint64_t content = total_ - (crlf ? 1 : 0);
  out.text = std::string_view(buf_.data(), static_cast<std::size_t>(std::min<std::uint64_t>(content, max_line_)));
  out.length = total_ + 1;
  out.crlf = crlf;
  out.over_long = content > max_line_;
  out.bare_cr = bare_cr_;
  out.overflow_reported = overflow_told_;
  return true;
}

}  // namespace smtp::proto
