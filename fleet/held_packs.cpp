#include "fleet/held_packs.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace smtp::fleet {

void HeldPacks::Free::operator()(char* p) const { std::free(p); }

HeldPacks::Chunk HeldPacks::allocate(std::size_t size) {
  constexpr std::size_t kHuge = 2 << 20;
  const std::size_t rounded = (size + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (!p) throw std::bad_alloc();
  madvise(p, rounded, MADV_HUGEPAGE);  // a hint; without transparent huge pages, 4 KB pages
  return Chunk(static_cast<char*>(p));
}

void HeldPacks::add(store::Level level, std::int64_t start, std::string_view pack) {
  if (pack.empty()) return;
  std::lock_guard lock(mutex_);
  char* to;
  if (pack.size() > kChunk / 4) {  // a big pack gets its own allocation; the chunk stays
    chunks_.push_back(allocate(pack.size()));
    to = chunks_.back().get();
  } else {
    if (pack.size() > left_) {
      chunks_.push_back(allocate(kChunk));
      at_ = chunks_.back().get(), left_ = kChunk;
    }
    to = at_;
    at_ += pack.size(), left_ -= pack.size();
  }
  std::memcpy(to, pack.data(), pack.size());
  units_[{level, start}].emplace_back(to, pack.size());
}

void HeldPacks::open_stream() {
  std::lock_guard lock(mutex_);
  streaming_ = true;
}

void HeldPacks::reached(std::int64_t start) {
  {
    std::lock_guard lock(mutex_);
    if (start <= frontier_) return;
    frontier_ = start;
  }
  arrived_.notify_all();
}

void HeldPacks::close_stream(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    streaming_ = false;
    error_ = std::move(error);
  }
  arrived_.notify_all();
}

void HeldPacks::rethrow() const {
  std::lock_guard lock(mutex_);
  if (error_) std::rethrow_exception(error_);
}

report::PackSource HeldPacks::source() const {
  return [this](store::Level level, std::int64_t start, const std::function<void(std::string_view)>& each) {
    std::vector<std::string_view> packs;
    {
      std::unique_lock lock(mutex_);
      arrived_.wait(lock, [&] { return !streaming_ || frontier_ > start; });
      if (error_) std::rethrow_exception(error_);
      const auto it = units_.find({level, start});
      if (it != units_.end()) packs = it->second;
    }
    for (const auto pack : packs) each(pack);
  };
}

}  // namespace smtp::fleet
