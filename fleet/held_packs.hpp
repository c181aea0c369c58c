// The packs a fleet report reads, held once in an arena for the report's merge
// (report::PackSource), while PostgreSQL still sends them: the report merges the first
// hours while the last are on their way.
#pragma once

#include "report/report.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

namespace smtp::fleet {

class HeldPacks {
 public:
  // Copies pack in (PostgreSQL's result is freed after each row) as one of the unit's.
  void add(store::Level level, std::int64_t start, std::string_view pack);

  // A stream of packs in start order: between open_stream and close_stream, a unit is
  // handed to the report only once a pack of a later start has arrived (reached), or the
  // stream has closed; an error closes it and is thrown to the report.
  void open_stream();
  void reached(std::int64_t start);
  void close_stream(std::exception_ptr error = nullptr);
  // What close_stream was given, thrown; nothing if the stream ended well.
  void rethrow() const;

  // Hands each held pack of a unit to the report, waiting for the stream as above; the
  // views are valid while this object lives.
  report::PackSource source() const;

 private:
  // 8 MB chunks: a year of hour packs is a few hundred MB, in a few dozen allocations
  // rather than one per pack, and no view moves when more arrive. They ask for huge
  // pages: faulting in 4 KB pages one by one was a third of an hour-step report's time.
  static constexpr std::size_t kChunk = 8 << 20;
  struct Free {
    void operator()(char* p) const;
  };
  using Chunk = std::unique_ptr<char[], Free>;
  static Chunk allocate(std::size_t size);

  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  bool streaming_ = false;
  std::int64_t frontier_ = std::numeric_limits<std::int64_t>::min();  // every start before it is here
  std::exception_ptr error_;
  std::vector<Chunk> chunks_;
  char* at_ = nullptr;
  std::size_t left_ = 0;
  std::map<std::pair<store::Level, std::int64_t>, std::vector<std::string_view>> units_;
};

}  // namespace smtp::fleet
