// Reads SMTP reply lines and assembles multi-line replies ("250-...", ending at "250 ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/events.hpp"

namespace smtp::proto {

struct ReplyLine {
  bool valid = false;
  bool more = false;  // "DDD-": a continuation follows
  std::uint16_t code = 0;
  std::string_view rest;  // text after "DDD " / "DDD-"
};

// Valid: three digits [2-5][0-5][0-9], then end of line, ' ' or '-'.
ReplyLine parse_reply_line(std::string_view line) noexcept;
// The RFC 3463 code ("5.7.8") at the start of `rest` when its class matches the reply code, else empty.
std::string_view find_enhanced_code(std::string_view rest, std::uint16_t code) noexcept;

class ReplyAssembler {
 public:
  enum class Step : std::uint8_t { more, done, invalid };

  explicit ReplyAssembler(std::size_t max_text) noexcept : max_text_(max_text) {}

  // One server line (`over_long`: cut at max_line by the framer). `malformed` is set when a continuation
  // line is invalid or changes the code; the line still belongs to the reply. Step::invalid: a line
  // outside any reply that is not a reply line.
  Step add(std::string_view line, bool over_long, bool& malformed);
  Reply& reply() noexcept { return reply_; }  // after Step::done, valid until the next add()
  bool open() const noexcept { return open_; }
  void reset() noexcept;
  void trim() noexcept {  // free a large buffer between replies
    if (buf_.capacity() > 4096) release();
  }

 private:
  void append(std::string_view line);
  void release() noexcept;

  std::string buf_;  // only multi-line replies are copied; single lines are handed out in place
  Reply reply_;
  std::size_t max_text_;
  bool open_ = false;
  bool done_ = false;
};

}  // namespace smtp::proto
