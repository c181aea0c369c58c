// Shared flags and shared counts (SPEC 10): a thread of its own that publishes this
// sensor's flag changes and detector events to the fleet database in batches, and hears
// the other sensors' through LISTEN/NOTIFY on a dedicated connection, with a poll of the
// tables as the fallback. The sensor never waits for it: events wait in a fixed-size queue.
#pragma once

#include "detect/detector_event.hpp"
#include "fleet/pg.hpp"
#include "fleet/share_codec.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace smtp::fleet {

struct SharerOptions {
  std::string sensor;  // this sensor's name: the origin of what it publishes
  ConnectInfo connect;
  bool share_flags = true;
  bool share_counts = true;
  std::size_t queue_cap = 16'384;          // events waiting to be published; more are dropped
  std::size_t pending_flags_cap = 200'000;  // flag changes waiting for the database
  std::chrono::milliseconds tick{250};      // batch period, and the longest wait for a NOTIFY
  std::chrono::milliseconds fallback_poll{5'000};
  std::chrono::milliseconds prune_every{60'000};
  std::chrono::seconds horizon{3600};       // events older than this are pruned and not replayed
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{30'000};
};

struct SharerHooks {
  // The flag table's changes since the last call (never blocks for long).
  std::function<std::vector<SharedFlag>()> take_flags;
  // A flag as the fleet has it now (another sensor's, or the merge of this one's).
  std::function<void(const SharedFlag&)> apply_flag;
  // Other sensors' events, in the order the database numbered them.
  std::function<void(const std::vector<detect::DetectorEvent>&)> events;
  // 0 info, 1 warning, 2 error; never a password.
  std::function<void(int level, const std::string& text)> log;
};

class Sharer {
 public:
  Sharer(SharerOptions options, SharerHooks hooks);
  ~Sharer();
  Sharer(const Sharer&) = delete;
  Sharer& operator=(const Sharer&) = delete;

  // From a session's thread: queued, or dropped and counted when the queue is full.
  void publish(detect::DetectorEvent e);
  // A remote event reached a threshold here (SPEC 9): the flag is claimed in the fleet
  // table, and `won` runs (on this thread) only if no active flag held the key, so one
  // sensor raises. At most 4,096 claims wait; more are dropped (the next event retries).
  void claim(SharedFlag proposed, std::function<void()> won);
  void set_password(std::string password);

  bool up() const { return up_.load(std::memory_order_relaxed); }
  std::uint64_t events_published() const { return published_.load(std::memory_order_relaxed); }
  std::uint64_t events_received() const { return received_.load(std::memory_order_relaxed); }
  std::uint64_t events_dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t flags_received() const { return flags_received_.load(std::memory_order_relaxed); }
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  void run();
  bool connect();
  void disconnect(const std::string& why);
  void wait_for_notify(std::chrono::milliseconds timeout);
  void publish_flags();
  void publish_events();
  void read_flags();
  void read_events();
  void prune();
  void resolve_claims();
  bool stopping();

  SharerOptions options_;
  SharerHooks hooks_;
  std::mutex mutex_;  // guards queue_, password_, stopping_
  std::condition_variable wake_;
  std::vector<detect::DetectorEvent> queue_;
  std::vector<std::pair<SharedFlag, std::function<void()>>> claims_;
  std::string password_;
  bool stopping_ = false;
  // Only the sharer's thread touches these.
  std::unique_ptr<Connection> db_;
  std::unique_ptr<Connection> listen_;
  std::map<std::string, SharedFlag> pending_flags_;  // taken from the table, not yet in the database
  std::int64_t last_flag_seq_ = 0;
  std::int64_t last_event_id_ = -1;  // -1: start at the newest event when first connected
  bool need_flags_ = true, need_events_ = true;
  std::chrono::steady_clock::time_point last_read_{}, last_prune_{};
  std::chrono::milliseconds backoff_;
  std::string last_error_;
  std::atomic<bool> up_{false};
  std::atomic<std::uint64_t> published_{0}, received_{0}, dropped_{0}, flags_received_{0}, errors_{0};
  std::thread thread_;
};

}  // namespace smtp::fleet
