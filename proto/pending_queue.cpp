#include "proto/pending_queue.hpp"

#include <algorithm>
#include <limits>

namespace smtp::proto {

void PendingQueue::grow() {
  const std::size_t size = std::min(cap_, std::max<std::size_t>(4, ring_.size() * 2));
  std::vector<Entry> bigger;
  bigger.reserve(size);
  for (std::size_t i = 0; i < count_; ++i) bigger.push_back(at(i));
  bigger.resize(size);
  ring_.swap(bigger);
  head_ = 0;
}

std::uint32_t PendingQueue::push(Entry e, std::string_view text) {
  if (count_ >= cap_) {
    auto& tail = at(count_ - 1);
    if (tail.anon_after < std::numeric_limits<std::uint32_t>::max()) ++tail.anon_after;
    return 0;
  }
  if (count_ == 0) {
    text_.clear();
    text_dead_ = 0;
  } else if (text_dead_ > 4096 && text_dead_ * 2 > text_.size()) {  // drop the popped prefix now and then
    text_.erase(0, text_dead_);
    for (std::size_t i = 0; i < count_; ++i) at(i).text_off -= static_cast<std::uint32_t>(text_dead_);
    text_dead_ = 0;
  }
  if (count_ == ring_.size()) grow();
  e.seq = next_seq_++;
  if (next_seq_ == 0) next_seq_ = 1;
  e.anon_after = 0;
  e.text_off = static_cast<std::uint32_t>(text_.size());
  e.text_len = static_cast<std::uint32_t>(text.size());
  text_.append(text);
  at(count_) = e;
  ++count_;
  return e.seq;
}

PendingQueue::Pop PendingQueue::pop(Entry& e, std::string_view& text) noexcept {
  if (anon_front_ > 0) {
    --anon_front_;
    return Pop::anonymous;
  }
  if (count_ == 0) return Pop::none;
  e = ring_[head_];
  head_ = (head_ + 1) % ring_.size();
  --count_;
  anon_front_ = e.anon_after;
  text = std::string_view(text_).substr(e.text_off, e.text_len);
  text_dead_ = e.text_off + e.text_len;
  return Pop::entry;
}

void PendingQueue::clear() noexcept {
  head_ = count_ = text_dead_ = 0;
  anon_front_ = 0;
  text_.clear();
}

void PendingQueue::release() noexcept {
  head_ = 0;
  if (text_.capacity() > 1024) std::string().swap(text_);
  if (ring_.size() > 8) std::vector<Entry>().swap(ring_);
}

}  // namespace smtp::proto
