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
  void line(std::uint64_t lcid, std::string_view text) {
    Buffer& b = begin_line(lcid);
    b.text.append(text.data(), text.data() + text.size());
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
