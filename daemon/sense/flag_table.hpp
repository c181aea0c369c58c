// Flagged IPs and networks: who, why, since when, until when; feeds /flagged, the gauge,
// blocking, the control socket and the store (SPEC sections 9 and 11).
#pragma once

#include "config/cidr.hpp"
#include "daemon/asio.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace smtp::daemon {

using FlagClock = std::chrono::system_clock;

struct FlagEntry {
  std::string ip;    // the key as shown: "192.0.2.7", "2001:db8:1:2::/64", "198.51.100.0/24"
  std::string type;  // the detector that flagged it first, or "manual"
  FlagClock::time_point since;
  FlagClock::time_point expires;
  std::uint64_t count = 0;  // alerts and repeats for this key while flagged
  bool block = false;       // action: block — new connections get the block reply
  bool manual = false;      // added through the control socket: never evicted
  std::string reason;       // manual flags only
  std::string sensor;       // the sensor that raised it (SPEC 10): this one, or another of the fleet
};

// An address or a network, IPv4 held mapped into IPv6 (::ffff:0:0/96), masked.
struct FlagKey {
  std::array<std::uint8_t, 16> bytes{};
  std::uint8_t prefix = 128;  // in the mapped space: an IPv4 /24 is 120
  bool operator==(const FlagKey&) const = default;
  auto operator<=>(const FlagKey&) const = default;
  // Parses "IP" or "IP/LEN" (IPv4 or IPv6); nullopt for anything else or a bad length.
  static std::optional<FlagKey> parse(std::string_view text);
  // An allow or deny entry read as config::Cidr reads it: the length counts in the family
  // the address is written in, so "::ffff:192.0.2.0/120" is an IPv6 length there.
  static std::optional<FlagKey> of(const config::Cidr& cidr);
  std::string text() const;  // the canonical form, IPv4 as IPv4
  // Whether every address of this key lies in `net`. Two networks meet only when one
  // lies within the other.
  bool within(const FlagKey& net) const;
};

// The error for text that is neither an address nor a network.
std::string not_a_flag_key(std::string_view text);

// How a manual flag on `key` meets the allow list (SPEC 11). Allowed clients are never
// flagged or blocked (sensor_session.cpp), so an entry that holds all of the key makes the
// flag moot, and the entries within the key are holes in it.
struct AllowOverlap {
  std::string holds;                // the first allow entry holding all of the key, as written; "" if none
  std::vector<std::string> within;  // the allow entries lying within the key, as written
};
AllowOverlap allow_overlap(const FlagKey& key, const std::vector<config::Cidr>& allow);

struct FlagKeyHash {
  std::size_t operator()(const FlagKey& k) const noexcept;
};

// A change the store has not seen yet: the entry as it is now, or nullopt when removed.
using FlagChange = std::pair<std::string, std::optional<FlagEntry>>;
// A change for the fleet (SPEC 10, shared flags): the entry, or nullopt for an explicit
// removal. Only this sensor's own changes are listed (no echo of what the fleet sent).
using SharedChange = std::pair<std::string, std::optional<FlagEntry>>;

// Exact addresses live in one hash map and networks in one map per prefix length, so
// `blocked` costs one lookup per distinct prefix length in use. At most max_entries
// keys: when full, expired entries go first, then the automatic (detector) flag that
// expires soonest; manual flags are never evicted (a manual add to a table full of
// manual flags is refused, an automatic one dropped and counted as evicted).
class FlagTable {
 public:
  explicit FlagTable(std::size_t max_entries = 100'000) : max_entries_(max_entries) {}

  // Returns true when the key was not flagged by `type` before (a new alert is due);
  // false means a repeat within the TTL (or a key that is not an address or network,
  // or a table full of manual flags), which only bumps the count.
  bool flag(const std::string& ip, const std::string& type, std::chrono::milliseconds ttl, bool block);
  // What a manual add did: the flag it set, and the active flag on the same key it
  // replaced (read under the same lock, so a flag raised a moment before is named too).
  struct ManualAdd {
    FlagEntry added;
    std::optional<FlagEntry> replaced;
  };
  // A manual flag: replaces the action and the expiry of any flag on the key. Returns an
  // error text, or "" on success.
  std::string add_manual(const std::string& key, std::chrono::milliseconds ttl, bool block, const std::string& reason,
                         ManualAdd* out = nullptr);
  // Removes the flag on exactly this key (an address or a network). Returns whether one was there.
  bool remove(const std::string& key);
  // Checked at accept for every connection: one lock, one lookup per prefix length.
  bool blocked(const asio::ip::address& ip);

  std::vector<FlagEntry> snapshot();
  // The active flags in key order from offset, at most limit of them; total gets how many there are.
  std::vector<FlagEntry> page(std::size_t offset, std::size_t limit, std::size_t* total = nullptr);
  std::size_t size();
  std::string json();  // every active flag as a JSON array
  static std::string json(const std::vector<FlagEntry>& entries);
  // Appends each as a /flagged object, comma-separated, to a JSON array being built.
  static void append_json(std::string& out, const std::vector<FlagEntry>& entries);

  void set_max_entries(std::size_t n);
  std::size_t max_entries() const { return max_entries_; }
  std::uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }
  // Called with the lock held for each eviction, so a counter can follow at once.
  void on_evict(std::function<void()> hook) { on_evict_ = std::move(hook); }

  // Persistence: what changed since the last call (bounded: past 2 x max_entries keys the
  // oldest changes are kept and the rest are only in memory until they change again).
  std::vector<FlagChange> take_changes();
  // Start-up: entries read back from the store; expired ones are dropped.
  void restore(const std::vector<FlagEntry>& entries);

  // Shared flags (SPEC 10). The name local flags carry as their origin.
  void set_sensor(std::string name);
  // On when the fleet shares flags: only then are this sensor's changes listed for it, so a
  // sensor without a fleet keeps no second change set.
  void share_changes(bool on);
  // This sensor's own raises, extensions, manual adds and removals since the last call.
  // Expiry and eviction are local bookkeeping and never listed: a full table here must not
  // remove a flag from the fleet. Bounded like take_changes.
  std::vector<SharedChange> take_shared_changes();
  // The fleet's version of a flag, from another sensor or merged by the database. It
  // replaces the local entry (the alert suppression is kept), counts against max_entries
  // like any flag, and is never listed by take_shared_changes: no ping-pong.
  void apply_remote(const FlagEntry& entry);
  void remove_remote(const std::string& key);
  // Whether `type` has alerted for exactly this key and is still quiet (its flag lasts).
  bool alerted(const std::string& key, std::string_view type);

 private:
  using Clock = FlagClock;
  struct Slot {
    FlagEntry entry;
    std::vector<std::pair<std::string, Clock::time_point>> alerted;  // (type, until): alert suppression
  };
  Slot* find(const FlagKey& k);
  Slot& insert(const FlagKey& k, Slot slot);  // room must have been made
  void erase(const FlagKey& k);
  void set_expiry(const FlagKey& k, Slot& s, Clock::time_point expires);
  bool make_room(Clock::time_point now, bool manual);  // false: full of manual flags
  void expire(Clock::time_point now);
  void changed(const FlagKey& k);
  void shared(const FlagKey& k, bool removed);

  std::size_t max_entries_;
  std::mutex mutex_;
  std::unordered_map<FlagKey, Slot, FlagKeyHash> exact_;
  std::map<std::uint8_t, std::unordered_map<FlagKey, Slot, FlagKeyHash>> networks_;  // by prefix length
  std::size_t count_ = 0;
  // Expiry order, automatic and manual apart, for the sweep and for eviction.
  std::set<std::pair<Clock::time_point, FlagKey>> auto_expiry_;
  std::set<std::pair<Clock::time_point, FlagKey>> manual_expiry_;
  std::unordered_set<FlagKey, FlagKeyHash> dirty_;  // keys the store has not seen change
  // Keys whose own change the fleet has not been told; true: an explicit removal.
  std::unordered_map<FlagKey, bool, FlagKeyHash> shared_dirty_;
  std::string sensor_;
  bool sharing_ = false;
  std::atomic<std::uint64_t> evicted_{0};
  std::function<void()> on_evict_;
};

}  // namespace smtp::daemon
