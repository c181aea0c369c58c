#include "daemon/sinks/transcript_log.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include <chrono>
#include <ctime>

namespace smtp::daemon {

TranscriptLog::TranscriptLog(const config::Transcripts& cfg)
    : sink_(std::make_shared<spdlog::sinks::rotating_file_sink_st>(cfg.path, cfg.max_size, cfg.max_files)),
      queue_lines_(cfg.queue_size) {
  sink_->set_pattern("%v");  // lines arrive formatted; a chunk is written as it is
  writer_ = std::thread([this] { run(); });
}

TranscriptLog::~TranscriptLog() {
  flush_thread();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
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
  fmt::format_to(std::back_inserter(b.text), "{},{:03} - [{:>10}] ", b.stamp, ms % 1000, lcid);
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
  Chunk chunk{std::string(b.text.data(), b.text.size() - 1), b.lines};  // the sink adds the last newline
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
    bool last = false;
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
      last = queue_.empty();
    }
    sink_->log(spdlog::details::log_msg("transcript", spdlog::level::info, chunk.text));
    if (last) sink_->flush();  // reach the disk whenever the writer catches up
  }
}

}  // namespace smtp::daemon
