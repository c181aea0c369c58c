#include "daemon/sinks/transcript_log.hpp"

#include <spdlog/common.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace smtp::daemon {

std::string transcript_file_name(const std::string& path, std::size_t index) {
  return spdlog::sinks::rotating_file_sink_st::calc_filename(path, index);
}

TranscriptLog::TranscriptLog(const config::Transcripts& cfg)
    : path_(cfg.path), max_size_(cfg.max_size), max_files_(cfg.max_files), queue_lines_(cfg.queue_size) {
  open_file();
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "transcripts");  // top -H, perf: OPERATIONS.md "Threads"
    run();
  });
}

// Appends to what is there, as spdlog's rotating sink did.
void TranscriptLog::open_file() {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw spdlog::spdlog_ex("Failed opening file " + path_ + " for writing", errno);
  struct stat st {};
  ::fstat(fd, &st);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  std::lock_guard lock(position_mutex_);
  position_ = {static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size)};
}

TranscriptPosition TranscriptLog::position() const {
  std::lock_guard lock(position_mutex_);
  return position_;
}

// transcript.log -> transcript.1.log -> ... -> transcript.<max_files>.log, the oldest
// removed; a renamed file keeps its inode, which is how a stored position finds it.
void TranscriptLog::rotate() {
  std::error_code ec;
  for (std::size_t i = max_files_; i > 0; --i) {
    const auto src = transcript_file_name(path_, i - 1);
    if (!std::filesystem::exists(src, ec)) continue;
    const auto target = transcript_file_name(path_, i);
    std::filesystem::remove(target, ec);
    std::filesystem::rename(src, target, ec);
  }
  if (max_files_ == 0) ::ftruncate(fd_, 0);  // no history kept: start the one file again
  try {
    open_file();
  } catch (const spdlog::spdlog_ex&) {
    // Keep writing to the file we have; the next rotation tries again.
  }
}

// A chunk reaches the file whole or not at all: a write the disk cuts short is truncated
// away, so no half line is left for the next chunk to run into.
void TranscriptLog::write_chunk(const Chunk& chunk) {
  std::uint64_t size = position().offset;
  if (size > 0 && size + chunk.text.size() > max_size_) {
    rotate();
    size = position().offset;
  }
  const char* p = chunk.text.data();
  std::size_t left = chunk.text.size();
  int error = 0;
  while (left > 0) {
    const auto n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : ENOSPC;
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (error != 0) {
    if (left < chunk.text.size()) (void)::ftruncate(fd_, static_cast<off_t>(size));
    dropped_.fetch_add(chunk.lines, std::memory_order_relaxed);
    if (!failing_)
      spdlog::error("transcripts: cannot write to {}: {}; lines are dropped and counted in "
                    "smtp_sensor_events_dropped_total{{sink=\"transcript\"}} until it works again",
                    path_, std::strerror(error));
    failing_ = true;
    return;
  }
  if (failing_) spdlog::info("transcripts: writing to {} again", path_);
  failing_ = false;
  std::lock_guard lock(position_mutex_);
  position_.offset = size + chunk.text.size();
}

TranscriptLog::~TranscriptLog() {
  flush_thread();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

TranscriptLog::Buffer& TranscriptLog::buffer() {
  thread_local Buffer b;
  return b;
}

TranscriptLog::Buffer& TranscriptLog::begin_line(std::uint64_t lcid) {
  Buffer& b = buffer();
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::int64_t second = ms / 1000;
  if (second != b.second) {  // localtime_r once a second per thread, not once a line
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::strftime(b.stamp, sizeof b.stamp, "%Y-%m-%d %H:%M:%S", &tm);
    b.second = second;
  }
  // "YYYY-MM-DD HH:MM:SS,mmm - [      lcid] " by hand: every line has this head, and
  // fmt's parse of a format string cost more than the rest of a command's line.
  char head[64];
  const std::string_view stamp(b.stamp);
  char* p = std::copy(stamp.begin(), stamp.end(), head);
  const auto milli = static_cast<int>(ms % 1000);
  *p++ = ',';
  *p++ = static_cast<char>('0' + milli / 100);
  *p++ = static_cast<char>('0' + milli / 10 % 10);
  *p++ = static_cast<char>('0' + milli % 10);
  p = std::copy_n(" - [", 4, p);
  char digits[20];
  const char* end = std::to_chars(digits, digits + sizeof digits, lcid).ptr;
  if (end - digits < 10) p = std::fill_n(p, 10 - (end - digits), ' ');
  p = std::copy(static_cast<const char*>(digits), end, p);
  *p++ = ']';
  *p++ = ' ';
  b.text.append(head, p);
  return b;
}

void TranscriptLog::end_line(Buffer& b) {
  b.text.push_back('\n');
  ++b.lines;
  if (b.text.size() >= kChunkBytes) submit(b);
}

void TranscriptLog::flush_thread() {
  Buffer& b = buffer();
  if (b.lines > 0) submit(b);
}

void TranscriptLog::submit(Buffer& b) {
  Chunk chunk{std::string(b.text.data(), b.text.size()), b.lines};
  b.text.clear();
  b.lines = 0;
  {
    std::lock_guard lock(mutex_);
    // A chunk always fits an empty queue, so even a tiny queue_size keeps writing.
    if (!queue_.empty() && queued_lines_ + chunk.lines > queue_lines_) {
      dropped_.fetch_add(chunk.lines, std::memory_order_relaxed);
      return;
    }
    queued_lines_ += chunk.lines;
    queue_.push_back(std::move(chunk));
  }
  wake_.notify_one();
}

void TranscriptLog::flush() {
  flush_thread();
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

void TranscriptLog::run() {
  for (;;) {
    Chunk chunk;
    {
      std::unique_lock lock(mutex_);
      if (queue_.empty()) {
        writing_ = false;
        idle_.notify_all();
      }
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      chunk = std::move(queue_.front());
      queue_.pop_front();
      queued_lines_ -= chunk.lines;
      writing_ = true;
    }
    // write(2) puts each chunk in the page cache at once, where readers (tail -f, grep,
    // GET /transcript) see it; nothing is held back in a user-space buffer.
    write_chunk(chunk);
  }
}

}  // namespace smtp::daemon
