#include "daemon/http/transcript_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>

namespace smtp::daemon {
namespace {

// "2026-11-23 07:36:54,439 - [  36556595] ": the LCID's "- [" is always at column 24. A
// match anywhere else is peer text that merely looks like a prefix.
constexpr std::size_t kPrefixColumn = 24;
constexpr std::size_t kBlock = 1u << 20;
constexpr std::string_view kClosing = "~~~~~~~~~~~~ Connection ";

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

TranscriptScan scan_transcript(const std::vector<std::string>& files, std::uint64_t lcid, std::uint64_t file,
                               std::uint64_t offset, const TranscriptScanLimits& limits) {
  TranscriptScan out;
  const auto deadline = std::chrono::steady_clock::now() + limits.budget;
  char pattern_buf[32];
  const int plen = std::snprintf(pattern_buf, sizeof pattern_buf, "- [%10llu] ", static_cast<unsigned long long>(lcid));
  const std::string_view pattern(pattern_buf, static_cast<std::size_t>(plen));

  // Which file to start in, and where.
  std::size_t first = 0;
  std::uint64_t start = 0;
  if (file != 0) {
    bool found = false;
    for (std::size_t i = 0; i < files.size() && !found; ++i) {
      struct stat st {};
      if (::stat(files[i].c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_ino) == file) {
        first = i;
        start = offset;
        found = true;
      }
    }
    if (!found) {
      out.outcome = TranscriptScan::Outcome::file_gone;
      return out;
    }
  } else {
    struct stat st {};
    if (files.empty() || ::stat(files[0].c_str(), &st) != 0) {
      out.outcome = TranscriptScan::Outcome::file_gone;
      return out;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    start = size > limits.max_scan ? size - limits.max_scan : 0;
  }

  std::string buf;
  for (std::size_t i = first + 1; i-- > 0;) {
    Fd f{::open(files[i].c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) continue;  // rotated away under us: the next one may still hold the rest
    std::uint64_t pos = (i == first) ? start : 0;
    buf.clear();
    for (;;) {
      if (out.scanned >= limits.max_scan) {
        out.stopped = "scanned " + std::to_string(limits.max_scan >> 20) + " MiB";
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        out.stopped = "ran out of time (" + std::to_string(limits.budget.count()) + " ms)";
        break;
      }
      const std::size_t have = buf.size();
      buf.resize(have + kBlock);
      const auto n = ::pread(f.fd, buf.data() + have, kBlock, static_cast<off_t>(pos));
      if (n <= 0) {
        buf.resize(have);
        break;  // end of this file: a partial last line is being written, leave it
      }
      buf.resize(have + static_cast<std::size_t>(n));
      pos += static_cast<std::uint64_t>(n);
      out.scanned += static_cast<std::uint64_t>(n);
      const char* data = buf.data();
      const auto last_nl = buf.rfind('\n');
      if (last_nl == std::string::npos) continue;
      const std::string_view whole(data, last_nl + 1);
      std::size_t from = 0;
      while (from < whole.size()) {
        const auto hit = whole.find(pattern, from);
        if (hit == std::string_view::npos) break;
        const auto nl_before = hit == 0 ? std::string_view::npos : whole.rfind('\n', hit - 1);
        const std::size_t line_start = nl_before == std::string_view::npos ? 0 : nl_before + 1;
        const std::size_t line_end = whole.find('\n', hit) + 1;
        from = line_end;
        if (hit - line_start != kPrefixColumn) continue;
        const auto line = whole.substr(line_start, line_end - line_start);
        if (out.text.size() + line.size() > limits.max_body) {
          out.stopped = "the session's lines pass " + std::to_string(limits.max_body >> 20) + " MiB";
          break;
        }
        out.text.append(line);
        if (line.substr(kPrefixColumn + pattern.size()).starts_with(kClosing)) out.complete = true;
        if (out.complete) break;
      }
      buf.erase(0, last_nl + 1);
      if (out.complete || !out.stopped.empty()) break;
    }
    if (out.complete || !out.stopped.empty()) break;
  }
  out.outcome = out.text.empty() ? TranscriptScan::Outcome::no_lines : TranscriptScan::Outcome::found;
  return out;
}

}  // namespace smtp::daemon
