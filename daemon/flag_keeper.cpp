#include "daemon/flag_keeper.hpp"

#include "daemon/sense/flag_table.hpp"
#include "daemon/sense/sensor.hpp"
#include "text/json.hpp"

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace smtp::daemon {
namespace {

store::StoredFlag to_stored(const FlagEntry& e) {
  using namespace std::chrono;
  return {e.ip, e.type, duration_cast<milliseconds>(e.since.time_since_epoch()).count(),
          duration_cast<milliseconds>(e.expires.time_since_epoch()).count(), e.count, e.block, e.manual, e.reason,
          e.sensor};
}

FlagEntry from_stored(const store::StoredFlag& f) {
  using namespace std::chrono;
  FlagEntry e;
  e.ip = f.key;
  e.type = f.type;
  e.since = FlagClock::time_point(duration_cast<FlagClock::duration>(milliseconds(f.since_ms)));
  e.expires = FlagClock::time_point(duration_cast<FlagClock::duration>(milliseconds(f.expires_ms)));
  e.count = f.count;
  e.block = f.block;
  e.manual = f.manual;
  e.reason = f.reason;
  e.sensor = f.sensor;  // "" (a row from before schema 9): FlagTable::restore names this sensor
  return e;
}

std::string until(const FlagEntry& e) { return "until " + text::iso8601_utc(e.expires); }

// The flag an add replaced, as the operator needs it to judge the loss: "block until T",
// "flag by auth_bruteforce until T", "block from mx2 until T, reason: ticket 42".
std::string replaced(const FlagEntry& e, const std::string& this_sensor) {
  std::string s = e.block ? "block" : "flag";
  if (!e.manual) s += " by " + e.type;
  if (!e.sensor.empty() && e.sensor != this_sensor) s += " from " + e.sensor;
  s += " " + until(e);
  if (!e.reason.empty()) s += ", reason: " + e.reason;
  return s;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string in_allow(const std::string& key, const std::string& entry) {
  return "error: " + key + " is in allow (" + entry +
         "): allowed addresses are never flagged or blocked; take it out of allow first\n";
}

}  // namespace

FlagKeeper::FlagKeeper(asio::io_context& control, FlagTable& flags, const std::string& store_path)
    : flags_(flags), timer_(control) {
  asio::post(pool_, [] { pthread_setname_np(pthread_self(), "flags"); });  // top -H: OPERATIONS.md "Threads"
  if (store_path.empty()) return;
  try {
    store_ = std::make_unique<store::FlagStore>(store_path);
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(FlagClock::now().time_since_epoch()).count();
    std::vector<FlagEntry> entries;
    for (const auto& f : store_->load(now)) entries.push_back(from_stored(f));
    flags_.restore(entries);
    if (!entries.empty()) spdlog::info("flags: {} active flags read back from the store", flags_.size());
  } catch (const std::exception& e) {
    spdlog::error("flags: cannot read the flags from the store, they will not survive a restart: {}", e.what());
    store_.reset();
  }
}

void FlagKeeper::start() {
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](const error_code& ec) {
    if (ec) return;
    persist();
    start();
  });
}

// The changes are taken on the keeper's thread and written there in one transaction.
void FlagKeeper::persist() {
  if (!store_) return;
  asio::post(pool_, [this] {
    auto changes = flags_.take_changes();
    if (changes.empty()) return;
    std::vector<std::pair<std::string, std::optional<store::StoredFlag>>> rows;
    rows.reserve(changes.size());
    for (auto& [key, entry] : changes)
      rows.emplace_back(std::move(key), entry ? std::optional<store::StoredFlag>(to_stored(*entry)) : std::nullopt);
    try {
      store_->apply(rows);
    } catch (const std::exception& e) {
      spdlog::warn("flags: writing {} changes to the store failed: {}", rows.size(), e.what());
    }
  });
}

std::string FlagKeeper::add(Sensor& sensor, const control::Request& r, const std::vector<config::Cidr>& allow,
                            std::chrono::milliseconds ttl) {
  const auto key = FlagKey::parse(r.target);
  if (!key) return "error: " + not_a_flag_key(r.target) + "\n";
  const auto name = key->text();  // what the table stores: "2001:db8:1:2::5/64" is 2001:db8:1:2::/64
  const auto allowed = allow_overlap(*key, allow);
  if (!allowed.holds.empty()) return in_allow(name, allowed.holds);
  FlagTable::ManualAdd added;
  if (const auto err = sensor.add_manual(name, ttl, r.block, r.reason, &added); !err.empty())
    return "error: " + err + "\n";
  const auto was = added.replaced ? " (replaces " + replaced(*added.replaced, sensor.name()) + ")" : std::string();
  spdlog::info("control: flagged {} ({} for {} s){}{}", name, r.block ? "block" : "flag", ttl.count() / 1000, was,
               r.reason.empty() ? "" : ": " + r.reason);
  persist();
  std::string out = (r.block ? "blocked " : "flagged ") + name + " " + until(added.added) + was + "\n";
  if (!allowed.within.empty()) out += "note: addresses in allow (" + joined(allowed.within) + ") stay exempt\n";
  return out + "ok\n";
}

std::string FlagKeeper::remove(Sensor& sensor, const std::string& target) {
  const auto key = FlagKey::parse(target);
  if (!key) return "error: " + not_a_flag_key(target) + "\n";
  if (const auto err = sensor.remove_manual(key->text()); !err.empty()) return "error: " + err + "\n";
  spdlog::info("control: removed the flag on {}", key->text());
  persist();
  return "ok\n";
}

void FlagKeeper::write_last() {
  persist();
  // Shared: after a timeout the task still runs, later, on a promise that must still exist.
  auto written = std::make_shared<std::promise<void>>();
  asio::post(pool_, [written] { written->set_value(); });
  written->get_future().wait_for(std::chrono::seconds(10));
}

}  // namespace smtp::daemon
