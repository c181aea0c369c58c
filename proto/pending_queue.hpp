// Bounded FIFO of client lines awaiting their reply; replies pair with it in order (RFC 2920 pipelining).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/events.hpp"

namespace smtp::proto {

// Entries keep the transcript-safe rendering of their line in one shared text buffer, so pairing a reply
// costs no allocation; the paired Command is re-parsed from that text.
class PendingQueue {
 public:
  struct Entry {
    std::uint64_t length = 0;      // wire bytes of the line; end_of_data: wire bytes of the content
    std::uint64_t size = 0;        // end_of_data: message size after un-stuffing
    std::uint32_t seq = 0;         // never 0; lets a gate recognise the reply to its own command
    std::uint32_t anon_after = 0;  // replies owed to lines that arrived while the queue was full
    std::uint32_t text_off = 0;
    std::uint32_t text_len = 0;
    LineKind kind = LineKind::command;
    Verb verb = Verb::other;
    std::uint8_t flags = 0;
  };
  enum class Pop : std::uint8_t { none, anonymous, entry };

  explicit PendingQueue(std::size_t capacity) noexcept : cap_(capacity < 1 ? 1 : capacity) {}

  // Queues `e` with its text and returns its seq; when full the line is only counted and 0 returned.
  std::uint32_t push(Entry e, std::string_view text);
  // The oldest reply owed. `text` stays valid until the next push() or clear().
  Pop pop(Entry& e, std::string_view& text) noexcept;

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0 && anon_front_ == 0; }
  void clear() noexcept;
  void trim() noexcept {  // release memory while empty
    if (count_ == 0 && (text_.capacity() > 1024 || ring_.size() > 8)) release();
  }

 private:
  Entry& at(std::size_t i) noexcept { return ring_[(head_ + i) % ring_.size()]; }
  void grow();
  void release() noexcept;

  std::vector<Entry> ring_;  // grows on demand up to cap_
  std::string text_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t cap_;
  std::size_t text_dead_ = 0;  // bytes at the front of text_ that belong to popped entries
  std::uint32_t anon_front_ = 0;
  std::uint32_t next_seq_ = 1;
};

}  // namespace smtp::proto
