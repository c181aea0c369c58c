// The per-session transcript (SPEC section 5): Xeams-style lines, grep-able by LCID.
#pragma once

#include "config/config.hpp"

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace spdlog::sinks {
class sink;
}

namespace smtp::daemon {

// Peer-controlled text on its way into a transcript line. Control bytes (CR, ESC, NUL,
// DEL, ...) are written as \xNN, so a client or server can neither forge a line under
// another LCID nor send escape sequences to an administrator's terminal.
struct Escaped {
  std::string_view text;
};

}  // namespace smtp::daemon

template <>
struct fmt::formatter<smtp::daemon::Escaped> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Context>
  auto format(const smtp::daemon::Escaped& e, Context& ctx) const {
    auto out = ctx.out();
    static constexpr char hex[] = "0123456789abcdef";
    for (const char ch : e.text) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x20 && c != 0x7f) {
        *out++ = ch;
      } else if (c == '\t') {
        *out++ = '\t';
      } else {
        *out++ = '\\';
        *out++ = 'x';
        *out++ = hex[c >> 4];
        *out++ = hex[c & 15];
      }
    }
    return out;
  }
};

namespace smtp::daemon {

// A line costs the session thread some formatting into a per-thread buffer and nothing
// else: no lock, no allocation, no wake-up of another thread. Full buffers (and, once a
// second, partial ones) go as one chunk to a writer thread, which appends them to a
// size-rotated file through spdlog's rotating sink. When the writer falls behind by
// more than queue_size lines, whole chunks are dropped and their lines counted.
class TranscriptLog {
 public:
  explicit TranscriptLog(const config::Transcripts& cfg);  // throws spdlog::spdlog_ex on a bad path
  ~TranscriptLog();

  // "2026-11-23 07:36:54,439 - [  36556595] <text>"
  template <class... Args>
  void line(std::uint64_t lcid, fmt::format_string<Args...> format, Args&&... args) {
    Buffer& b = begin_line(lcid);
    fmt::format_to(std::back_inserter(b.text), format, std::forward<Args>(args)...);
    end_line(b);
  }

  // Hands this thread's buffered lines to the writer. Every I/O thread calls it once a
  // second and before it stops.
  void flush_thread();
  // Blocks until the writer has written and flushed everything handed to it.
  void flush();
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Buffer {
    fmt::memory_buffer text;
    std::uint32_t lines = 0;
    std::int64_t second = -1;  // the second whose "YYYY-MM-DD HH:MM:SS" is cached
    char stamp[20] = {};
  };
  struct Chunk {
    std::string text;
    std::uint32_t lines = 0;
  };
  static constexpr std::size_t kChunkBytes = 64 * 1024;

  static Buffer& buffer();
  Buffer& begin_line(std::uint64_t lcid);
  void end_line(Buffer& b);
  void submit(Buffer& b);
  void run();

  std::shared_ptr<spdlog::sinks::sink> sink_;
  const std::size_t queue_lines_;
  std::atomic<std::uint64_t> dropped_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Chunk> queue_;
  std::size_t queued_lines_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace smtp::daemon
