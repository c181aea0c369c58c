// The fleet shipper's side of the local store (SPEC 10): reads the sessions after the
// shipped mark in rowid order on a connection of its own, and moves the mark; reads the
// packed units changed since they were last shipped (pack_changes, schema v10).
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

// A unit whose packs changed (packed, repacked, unpacked or pruned); seq tells a later
// change of the same unit from this one.
struct PackChange {
  int level = 0;
  std::int64_t start = 0;
  std::int64_t seq = 0;
};

// One scope's pack of a unit, as rollup_pack holds it.
struct ShipPack {
  int kind = 0;
  int direction = 0;
  std::string listener;
  std::string data;
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

  // Changed units not shipped yet.
  std::uint64_t pack_backlog();
  // Up to limit changed units, oldest change first.
  std::vector<PackChange> pack_changes(std::size_t limit);
  // The unit's packs now, read in one transaction; false when it is not packed (then the
  // fleet drops its copy).
  bool read_unit(int level, std::int64_t start, std::vector<ShipPack>& packs);
  // The fleet committed these changes: forgets each one unless the unit changed again.
  void clear_pack_changes(const std::vector<PackChange>& done);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace smtp::store
