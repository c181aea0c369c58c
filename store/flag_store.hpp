// Active flags in the store (schema 5, table `flags`; 9 adds their sensor), so that they survive a restart.
// Rare writes: called from the daemon's flag pool, never from a session thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace smtp::store {

struct StoredFlag {
  std::string key;  // an address or a network, as the flag table prints it
  std::string type;
  std::int64_t since_ms = 0;
  std::int64_t expires_ms = 0;
  std::uint64_t count = 0;
  bool block = false;
  bool manual = false;
  std::string reason;
  std::string sensor;  // the sensor that raised it (schema 9); "" for rows written before
};

class FlagStore {
 public:
  explicit FlagStore(const std::string& path);  // opens (and migrates) the store; throws std::runtime_error
  ~FlagStore();
  FlagStore(const FlagStore&) = delete;
  FlagStore& operator=(const FlagStore&) = delete;
  // The flags still active at now_ms; expired rows are deleted.
  std::vector<StoredFlag> load(std::int64_t now_ms);
  // One transaction: each key set to its flag, or deleted when there is none.
  void apply(const std::vector<std::pair<std::string, std::optional<StoredFlag>>>& changes);

 private:
  sqlite3* db_;
};

}  // namespace smtp::store
