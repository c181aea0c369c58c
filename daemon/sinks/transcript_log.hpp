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

namespace smtp::daemon {

// Where the writer stands: the inode of the file it appends to and the bytes written to
// it. A line formatted after a position was read lands at or after it, so a session
// that reads the position when it opens has its first line at or after that offset of
// that file, whatever name rotation has given the file since (SPEC section 13).
struct TranscriptPosition {
  std::uint64_t file = 0;  // st_ino; 0 when unknown
  std::uint64_t offset = 0;
};

// The name of generation index of a rotated file: transcript.log, transcript.1.log, ...
// (spdlog's naming, which the files have always had).
std::string transcript_file_name(const std::string& path, std::size_t index);

// A line costs the session thread some formatting into a per-thread buffer and nothing
// else: no lock, no allocation, no wake-up of another thread. Full buffers (and, once a
// second, partial ones) go as one chunk to a writer thread, which appends them to a
// size-rotated file (written with write(2), so each chunk's offset is known). When the writer falls behind by
// more than queue_size lines, whole chunks are dropped and their lines counted; so are the
// chunks the file refuses (a full disk), which are logged once per run of failures.
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
  // Cheap (a short lock the writer takes once a chunk); called as each session opens.
  TranscriptPosition position() const;

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
  void write_chunk(const Chunk& chunk);
  void open_file();
  void rotate();

  const std::string path_;
  const std::uint64_t max_size_;
  const std::uint32_t max_files_;
  int fd_ = -1;
  bool failing_ = false;  // the writer thread's: the last chunk did not reach the file
  mutable std::mutex position_mutex_;
  TranscriptPosition position_;  // under position_mutex_; written by the writer thread only
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
