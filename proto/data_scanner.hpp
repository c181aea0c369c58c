// Follows DATA content to the exact <CRLF>.<CRLF>, measuring it and spotting end-of-data look-alikes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtp::proto {

// Only a '.' right after a line break can end DATA, so the scan jumps from one such dot to the next
// (line_dot.hpp, many bytes a step) and looks around each one. Content never touches the command parser.
class DataScanner {
 public:
  struct Step {
    std::size_t consumed = 0;  // bytes of the input used (0 only right after a look-alike)
    std::size_t content = 0;   // of those, message content: the final ".\r\n" is not, except that a "." or
                               // ".\r" reported in an earlier step, before the next input could decide,
                               // turns out to begin it (a partial "." line to drop at done)
    bool done = false;         // the end-of-data line was consumed
    bool lookalike = false;    // `consumed` ends just after an end-of-data look-alike
  };

  Step scan(std::string_view in) noexcept;
  void reset() noexcept;
  std::uint64_t size() const noexcept { return size_; }  // message bytes after un-stuffing, once done
  std::uint64_t wire() const noexcept { return wire_; }  // bytes consumed, the final ".\r\n" included
  std::uint32_t lookalikes() const noexcept { return lookalikes_; }
  std::string_view last_lookalike() const noexcept;     // "LF.LF", "CRLF.CR", ...

 private:
  enum class Eol : std::uint8_t { crlf, lf, cr };

  Step advance(const char* p, std::size_t consumed, std::size_t content, bool done, bool lookalike) noexcept;
  void note(Eol before, Eol after) noexcept;
  void plain_dot(Eol before) noexcept;

  std::uint64_t wire_ = 0;
  std::uint64_t stuffed_ = 0;  // line-leading dots the server strips
  std::uint64_t size_ = 0;
  std::uint64_t dot_at_ = 0;   // offset of a pending dot
  std::uint32_t lookalikes_ = 0;
  std::uint8_t last_ = 0;      // index of the last look-alike variant
  char h1_ = '\n';             // the two bytes before the input; DATA's own CRLF precedes the content
  char h2_ = '\r';
  bool pending_ = false;       // the input ended inside a line-leading "." or ".\r"
  bool pending_cr_ = false;
  Eol pending_eol_ = Eol::crlf;
};

}  // namespace smtp::proto
