// The fleet shipper's side of the local store (SPEC 10): reads the sessions after the
// shipped mark in rowid order on a connection of its own, and moves the mark.
#pragma once

#include "store/session_record.hpp"

#include <cstdint>
#include <string>
#include <vector>

struct sqlite3;

namespace smtp::store {

struct ShipRow {
  std::int64_t rowid = 0;
  SessionRecord record;
};

class ShipSource {
 public:
  // Opens the store the SessionStore created (schema current); throws std::runtime_error.
  explicit ShipSource(const std::string& path);
  ~ShipSource();
  ShipSource(const ShipSource&) = delete;
  ShipSource& operator=(const ShipSource&) = delete;

  // The rowid of the last session the fleet committed. If the store's newest rowid is
  // below it (every row was pruned and rowids started again), the mark goes back to 0.
  std::int64_t mark();
  // Up to limit sessions after rowid, oldest first; throws std::runtime_error.
  std::vector<ShipRow> read_after(std::int64_t rowid, std::size_t limit);
  // Sessions after rowid not shipped yet.
  std::uint64_t backlog(std::int64_t rowid);
  // Written after the fleet's commit; throws std::runtime_error.
  void set_mark(std::int64_t rowid);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace smtp::store
