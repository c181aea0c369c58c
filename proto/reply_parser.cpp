#include "proto/reply_parser.hpp"

#include <algorithm>

namespace smtp::proto {
namespace {
constexpr bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
}  // namespace

ReplyLine parse_reply_line(std::string_view line) noexcept {
  ReplyLine r;
  if (line.size() < 3) return r;
  const char a = line[0];
  const char b = line[1];
  const char c = line[2];
  if (a < '2' || a > '5' || b < '0' || b > '5' || !digit(c)) return r;
  if (line.size() > 3) {
    if (line[3] == '-') r.more = true;
    else if (line[3] != ' ') return r;
    r.rest = line.substr(4);
  }
  r.code = static_cast<std::uint16_t>((a - '0') * 100 + (b - '0') * 10 + (c - '0'));
  r.valid = true;
  return r;
}

std::string_view find_enhanced_code(std::string_view rest, std::uint16_t code) noexcept {
  // class "." subject(1-3 digits) "." detail(1-3 digits), then a space or the end
  if (rest.size() < 5) return {};
  const char cls = rest[0];
  if ((cls != '2' && cls != '4' && cls != '5') || cls - '0' != code / 100 || rest[1] != '.') return {};
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    const std::size_t start = i;
    while (i < rest.size() && digit(rest[i]) && i - start < 3) ++i;
    if (i == start) return {};
    if (part == 0) {
      if (i >= rest.size() || rest[i] != '.') return {};
      ++i;
    }
  }
  if (i < rest.size() && rest[i] != ' ') return {};
  return rest.substr(0, i);
}

void ReplyAssembler::reset() noexcept {
  buf_.clear();
  reply_ = Reply{};
  open_ = done_ = false;
}

void ReplyAssembler::release() noexcept {
  if (!open_) {
    reset();
    std::string().swap(buf_);
  }
}

void ReplyAssembler::append(std::string_view line) {
  if (!buf_.empty()) {
    if (buf_.size() >= max_text_) {
      reply_.truncated = true;
      return;
    }
    buf_.push_back('\n');
  }
  const std::size_t room = max_text_ > buf_.size() ? max_text_ - buf_.size() : 0;
  if (line.size() > room) reply_.truncated = true;
  buf_.append(line.substr(0, room));
}

ReplyAssembler::Step ReplyAssembler::add(std::string_view line, bool over_long, bool& malformed) {
  malformed = false;
  if (done_) reset();
  const ReplyLine rl = parse_reply_line(line);
  if (!open_) {
    if (!rl.valid) return Step::invalid;
    reply_ = Reply{};
    reply_.code = rl.code;
    reply_.lines = 1;
    reply_.truncated = over_long;
    if (!rl.more) {
      reply_.text = line;
      reply_.enhanced = find_enhanced_code(rl.rest, rl.code);
      done_ = true;
      return Step::done;
    }
    open_ = true;
    buf_.clear();
    append(line);
    return Step::more;
  }
  ++reply_.lines;
  reply_.truncated |= over_long;
  append(line);
  if (!rl.valid || rl.code != reply_.code) malformed = reply_.malformed = true;
  if (!rl.valid || rl.more) return Step::more;
  open_ = false;
  done_ = true;
  reply_.text = buf_;
  const std::string_view first = reply_.text.substr(0, reply_.text.find('\n'));
  reply_.enhanced = find_enhanced_code(parse_reply_line(first).rest, reply_.code);
  return Step::done;
}

}  // namespace smtp::proto
