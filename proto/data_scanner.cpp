#include "proto/data_scanner.hpp"

#include "proto/line_dot.hpp"

#include <array>
#include <cstdint>

namespace smtp::proto {
namespace {
// [before][after]; [crlf][crlf] is the real end of data.
constexpr std::array<std::array<std::string_view, 3>, 3> names = {{
    {"CRLF.CRLF", "CRLF.LF", "CRLF.CR"},
    {"LF.CRLF", "LF.LF", "LF.CR"},
    {"CR.CRLF", "CR.LF", "CR.CR"},
}};

}  // namespace

void DataScanner::reset() noexcept { *this = DataScanner{}; }

std::string_view DataScanner::last_lookalike() const noexcept {
  return lookalikes_ == 0 ? std::string_view{} : names[last_ / 3][last_ % 3];
}

void DataScanner::plain_dot(Eol before) noexcept {
  if (before == Eol::crlf) ++stuffed_;  // RFC 5321 4.5.2: a leading dot is removed
}

void DataScanner::note(Eol before, Eol after) noexcept {
  plain_dot(before);
  ++lookalikes_;
  last_ = static_cast<std::uint8_t>(static_cast<unsigned>(before) * 3 + static_cast<unsigned>(after));
}

DataScanner::Step DataScanner::advance(const char* p, std::size_t consumed, std::size_t content, bool done,
                                       bool lookalike) noexcept {
  if (consumed >= 2) {
    h2_ = p[consumed - 2];
    h1_ = p[consumed - 1];
  } else if (consumed == 1) {
    h2_ = h1_;
    h1_ = p[0];
  }
  wire_ += consumed;
  Step s;
  s.consumed = consumed;
  s.content = content;
  s.done = done;
  s.lookalike = lookalike;
  return s;
}

DataScanner::Step DataScanner::scan(std::string_view in) noexcept {
  const char* p = in.data();
  const std::size_t n = in.size();
  std::size_t i = 0;
  while (pending_ && i < n) {  // the previous input ended in a line-leading "." or ".\r"
    const char ch = p[i];
    if (!pending_cr_) {
      if (ch == '\r') {
        pending_cr_ = true;
        ++i;
        continue;
      }
      pending_ = false;
      if (ch == '\n') {
        note(pending_eol_, Eol::lf);
        return advance(p, i + 1, i + 1, false, true);
      }
      plain_dot(pending_eol_);
      break;
    }
    pending_ = false;
    if (ch != '\n') {
      note(pending_eol_, Eol::cr);
      return advance(p, i, i, false, true);
    }
    if (pending_eol_ == Eol::crlf) {
      size_ = dot_at_ - stuffed_;
      return advance(p, i + 1, 0, true, false);
    }
    note(pending_eol_, Eol::crlf);
    return advance(p, i + 1, i + 1, false, true);
  }
  while (i < n) {
    std::size_t d = i;  // a dot at i may follow a line break from before i, even the previous input
    const char before_i = i >= 1 ? p[i - 1] : h1_;
    if (p[i] != '.' || (before_i != '\n' && before_i != '\r')) {
      if (i + 1 >= n) break;
      d = line_dot::find(p, i + 1, n);
      if (d >= n) break;
    }
    const char prev = d >= 1 ? p[d - 1] : h1_;
    const char prev2 = d >= 2 ? p[d - 2] : (d == 1 ? h1_ : h2_);
    const Eol before = prev == '\r' ? Eol::cr : (prev2 == '\r' ? Eol::crlf : Eol::lf);
    if (d + 1 >= n || (p[d + 1] == '\r' && d + 2 >= n)) {  // the bytes that decide are in the next input
      pending_ = true;
      pending_cr_ = d + 1 < n;
      pending_eol_ = before;
      dot_at_ = wire_ + d;
      i = n;
      break;
    }
    const char a = p[d + 1];
    if (a == '\n') {
      note(before, Eol::lf);
      return advance(p, d + 2, d + 2, false, true);
    }
    if (a != '\r') {
      plain_dot(before);
      i = d + 1;
      continue;
    }
    if (p[d + 2] != '\n') {
      note(before, Eol::cr);
      return advance(p, d + 2, d + 2, false, true);
    }
    if (before == Eol::crlf) {
      size_ = wire_ + d - stuffed_;
      return advance(p, d + 3, d, true, false);
    }
    note(before, Eol::crlf);
    return advance(p, d + 3, d + 3, false, true);
  }
  return advance(p, n, n, false, false);
}

}  // namespace smtp::proto
