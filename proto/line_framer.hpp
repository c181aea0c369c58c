// Cuts one direction's byte stream into lines at LF, keeping at most max_line bytes of each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smtp::proto {

// LF ends a line with or without CR before it, because that is how servers frame commands; the caller
// flags the bare LF. A CR elsewhere stays in the line and is reported as bare_cr.
struct Line {
  std::string_view text;           // without terminator, at most max_line bytes; valid until next()
  std::uint64_t length = 0;        // wire bytes, terminator included
  bool crlf = false;               // false: ended by a bare LF
  bool over_long = false;
  bool bare_cr = false;
  bool overflow_reported = false;  // over_long was already signalled through take_overflow()
};

class LineFramer {
 public:
  explicit LineFramer(std::size_t max_line) noexcept : max_line_(max_line) {}

  // Consumes the front of `in` up to and including the next LF. True with `out` filled when a line
  // completed; false when all of `in` went into an unfinished line. A line inside one input is not
  // copied; only a line spanning inputs is (so idle sessions own no buffer).
  bool next(std::string_view& in, Line& out);
  // True once when an unfinished line first grows past max_line, so a flood without LF shows early.
  bool take_overflow() noexcept;
  bool partial() const noexcept { return !done_ && total_ > 0; }
  std::string_view partial_text() const noexcept;  // kept bytes of the unfinished line
  void reset() noexcept;                           // forget an unfinished line
  // Free a large buffer while no line is unfinished; cheap enough to call after every input.
  void trim() noexcept {
    if (buf_.capacity() > 1024) release();
  }

 private:
  void absorb(const char* p, std::size_t n);
  void release() noexcept;
  void restart() noexcept;

  std::string buf_;
  std::uint64_t total_ = 0;  // bytes of the current line so far
  std::size_t max_line_;
  bool cr_pending_ = false;  // the last byte absorbed was CR: terminator or bare, the next byte says
  bool bare_cr_ = false;
  bool done_ = false;        // a line was handed out; its bytes are dropped on the next call
  bool overflow_ = false;
  bool overflow_told_ = false;
};

}  // namespace smtp::proto
