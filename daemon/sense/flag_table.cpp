#include "daemon/sense/flag_table.hpp"

#include "daemon/address.hpp"
#include "text/json.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace smtp::daemon {

namespace {

constexpr std::array<std::uint8_t, 16> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};

bool is_mapped(const std::array<std::uint8_t, 16>& b) { return std::memcmp(b.data(), kMappedPrefix.data(), 12) == 0; }

void mask(std::array<std::uint8_t, 16>& b, unsigned prefix) {
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bits = prefix > i * 8 ? std::min(8u, prefix - i * 8) : 0;
    b[i] &= static_cast<std::uint8_t>(bits == 0 ? 0 : 0xff << (8 - bits));
  }
}

// literal_family: the length's bound is the family the address is written in (config::Cidr's
// reading) rather than the one it stands for (a flag key reads ::ffff:a.b.c.d as IPv4).
std::optional<FlagKey> parse_key(std::string_view text, bool literal_family) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const auto slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  error_code ec;
  const auto a = asio::ip::make_address(addr, ec);
  if (ec) return std::nullopt;
  const bool v4 = literal_family ? a.is_v4() : unmapped(a).is_v4();
  unsigned len = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || err != std::errc{} || end != digits.data() + digits.size() || len > (v4 ? 32u : 128u))
      return std::nullopt;
  }
  FlagKey k;
  k.bytes = mapped_bytes(unmapped(a));
  k.prefix = static_cast<std::uint8_t>(v4 ? 96 + len : len);
  mask(k.bytes, k.prefix);
  return k;
}

}  // namespace

std::optional<FlagKey> FlagKey::parse(std::string_view text) { return parse_key(text, false); }

std::optional<FlagKey> FlagKey::of(const config::Cidr& cidr) { return parse_key(cidr.text(), true); }

bool FlagKey::within(const FlagKey& net) const {
  if (prefix < net.prefix) return false;
  auto b = bytes;
  mask(b, net.prefix);
  return b == net.bytes;
}

std::string not_a_flag_key(std::string_view text) { return "not an IP address or CIDR network: " + std::string(text); }

AllowOverlap allow_overlap(const FlagKey& key, const std::vector<config::Cidr>& allow) {
  AllowOverlap out;
  for (const auto& cidr : allow) {
    const auto net = FlagKey::of(cidr);
    if (!net) continue;  // the loader has parsed it with the same reading: not expected
    if (key.within(*net)) {
      out.holds = cidr.text();
      return out;
    }
    if (net->within(key)) out.within.push_back(cidr.text());
  }
  return out;
}

std::string FlagKey::text() const {
  if (is_mapped(bytes) && prefix >= 96) {
    const auto a = asio::ip::make_address_v4(asio::ip::v4_mapped, asio::ip::address_v6(bytes));
    return prefix == 128 ? a.to_string() : a.to_string() + "/" + std::to_string(prefix - 96);
  }
  const auto a = asio::ip::address_v6(bytes).to_string();
  return prefix == 128 ? a : a + "/" + std::to_string(prefix);
}

std::size_t FlagKeyHash::operator()(const FlagKey& k) const noexcept {
  std::uint64_t h[2];
  std::memcpy(h, k.bytes.data(), 16);
  std::uint64_t x = h[0] * 0x9E3779B97F4A7C15ull ^ (h[1] + k.prefix) * 0xC2B2AE3D27D4EB4Full;
  return static_cast<std::size_t>(x ^ (x >> 29));
}

FlagTable::Slot* FlagTable::find(const FlagKey& k) {
  if (k.prefix == 128) {
    const auto it = exact_.find(k);
    return it == exact_.end() ? nullptr : &it->second;
  }
  const auto m = networks_.find(k.prefix);
  if (m == networks_.end()) return nullptr;
  const auto it = m->second.find(k);
  return it == m->second.end() ? nullptr : &it->second;
}

FlagTable::Slot& FlagTable::insert(const FlagKey& k, Slot slot) {
  auto& map = k.prefix == 128 ? exact_ : networks_[k.prefix];
  auto [it, fresh] = map.try_emplace(k, std::move(slot));
  if (fresh) ++count_;
  (it->second.entry.manual ? manual_expiry_ : auto_expiry_).emplace(it->second.entry.expires, k);
  changed(k);
  return it->second;
}

void FlagTable::erase(const FlagKey& k) {
  Slot* s = find(k);
  if (s == nullptr) return;
  (s->entry.manual ? manual_expiry_ : auto_expiry_).erase({s->entry.expires, k});
  if (k.prefix == 128) {
    exact_.erase(k);
  } else {
    auto m = networks_.find(k.prefix);
    m->second.erase(k);
    if (m->second.empty()) networks_.erase(m);  // lookups only visit lengths in use
  }
  --count_;
  changed(k);
}

void FlagTable::set_expiry(const FlagKey& k, Slot& s, Clock::time_point expires) {
  auto& order = s.entry.manual ? manual_expiry_ : auto_expiry_;
  order.erase({s.entry.expires, k});
  s.entry.expires = expires;
  order.emplace(expires, k);
}

void FlagTable::changed(const FlagKey& k) {
  if (dirty_.size() < 2 * std::max<std::size_t>(max_entries_, 1)) dirty_.insert(k);
}

void FlagTable::shared(const FlagKey& k, bool removed) {
  if (!sharing_) return;
  if (shared_dirty_.size() < 2 * std::max<std::size_t>(max_entries_, 1) || shared_dirty_.count(k)) shared_dirty_[k] = removed;
}

void FlagTable::expire(Clock::time_point now) {
  for (auto* order : {&auto_expiry_, &manual_expiry_})
    while (!order->empty() && order->begin()->first <= now) erase(FlagKey(order->begin()->second));
}

bool FlagTable::make_room(Clock::time_point now, bool manual) {
  expire(now);
  while (count_ >= max_entries_ && count_ > 0) {
    if (auto_expiry_.empty()) return false;  // all manual: never evicted
    erase(FlagKey(auto_expiry_.begin()->second));
    evicted_.fetch_add(1, std::memory_order_relaxed);
    if (on_evict_) on_evict_();
  }
  (void)manual;
  return max_entries_ > 0;
}

bool FlagTable::flag(const std::string& ip, const std::string& type, std::chrono::milliseconds ttl, bool block) {
  const auto key = FlagKey::parse(ip);
  if (!key) return false;
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  expire(now);
  Slot* s = find(*key);
  if (s == nullptr) {
    if (!make_room(now, false)) {
      evicted_.fetch_add(1, std::memory_order_relaxed);  // the newcomer is what goes
      if (on_evict_) on_evict_();
      return false;
    }
    Slot fresh;
    fresh.entry = {key->text(), type, now, now + ttl, 0, block, false, {}, sensor_};
    s = &insert(*key, std::move(fresh));
    shared(*key, false);
  }
  FlagEntry& e = s->entry;
  ++e.count;
  if (!e.manual) {
    // The fleet hears of a longer expiry once a second at most per key (the sharer's
    // batch), not of every repeat's count.
    if (now + ttl > e.expires) set_expiry(*key, *s, now + ttl), shared(*key, false);
    if (block && !e.block) e.block = true, changed(*key), shared(*key, false);
  }
  for (auto& [t, until] : s->alerted)
    if (t == type) {
      if (until > now) return false;  // a repeat within the TTL
      until = now + ttl;
      return true;
    }
  s->alerted.emplace_back(type, now + ttl);
  return true;
}

std::string FlagTable::add_manual(const std::string& text, std::chrono::milliseconds ttl, bool block,
                                  const std::string& reason, ManualAdd* out) {
  const auto key = FlagKey::parse(text);
  if (!key) return not_a_flag_key(text);
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  expire(now);
  Slot slot;
  std::optional<FlagEntry> replaced;
  if (Slot* s = find(*key)) {
    replaced = s->entry;  // active: expire() has just taken the expired ones
    slot = std::move(*s);
    erase(*key);
  } else {
    if (!make_room(now, true)) return "the flag table is full of manual flags (flag.max_entries)";
    slot.entry = {key->text(), "manual", now, {}, 0, false, false, {}, {}};
  }
  slot.entry.sensor = sensor_;
  slot.entry.manual = true;
  slot.entry.block = block;
  slot.entry.reason = reason;
  slot.entry.expires = now + ttl;
  slot.entry.since = now;
  Slot& s = insert(*key, std::move(slot));
  shared(*key, false);
  if (out) *out = {s.entry, std::move(replaced)};
  return {};
}

bool FlagTable::remove(const std::string& text) {
  const auto key = FlagKey::parse(text);
  if (!key) return false;
  std::lock_guard lock(mutex_);
  if (find(*key) == nullptr) return false;
  erase(*key);
  shared(*key, true);
  return true;
}

bool FlagTable::blocked(const asio::ip::address& ip) {
  FlagKey k;
  k.bytes = mapped_bytes(unmapped(ip));
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (count_ == 0) return false;
  auto hit = [&](const Slot* s) { return s != nullptr && s->entry.block && s->entry.expires > now; };
  if (!exact_.empty()) {
    const auto it = exact_.find(k);
    if (it != exact_.end() && hit(&it->second)) return true;
  }
  for (auto& [prefix, map] : networks_) {
    FlagKey n = k;
    n.prefix = prefix;
    mask(n.bytes, prefix);
    const auto it = map.find(n);
    if (it != map.end() && hit(&it->second)) return true;
  }
  return false;
}

std::vector<FlagEntry> FlagTable::snapshot() {
  std::size_t total = 0;
  return page(0, static_cast<std::size_t>(-1), &total);
}

std::vector<FlagEntry> FlagTable::page(std::size_t offset, std::size_t limit, std::size_t* total) {
  const auto now = Clock::now();
  std::vector<std::pair<FlagKey, const FlagEntry*>> keys;
  std::vector<FlagEntry> out;
  std::lock_guard lock(mutex_);
  expire(now);
  keys.reserve(count_);
  for (const auto& [k, s] : exact_) keys.emplace_back(k, &s.entry);
  for (const auto& [p, map] : networks_)
    for (const auto& [k, s] : map) keys.emplace_back(k, &s.entry);
  if (total) *total = keys.size();
  if (offset >= keys.size()) return out;
  const std::size_t n = std::min(limit, keys.size() - offset);
  // A stable order, so that pages follow one another: by key.
  std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(offset + n), keys.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  out.reserve(n);
  for (std::size_t i = offset; i < offset + n; ++i) out.push_back(*keys[i].second);
  return out;
}

std::size_t FlagTable::size() {
  std::lock_guard lock(mutex_);
  expire(Clock::now());
  return count_;
}

void FlagTable::set_max_entries(std::size_t n) {
  std::lock_guard lock(mutex_);
  max_entries_ = n;
}

std::vector<FlagChange> FlagTable::take_changes() {
  std::lock_guard lock(mutex_);
  std::vector<FlagChange> out;
  out.reserve(dirty_.size());
  for (const auto& k : dirty_) {
    const Slot* s = find(k);
    out.emplace_back(k.text(), s ? std::optional<FlagEntry>(s->entry) : std::nullopt);
  }
  dirty_.clear();
  return out;
}

void FlagTable::restore(const std::vector<FlagEntry>& entries) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  for (const auto& e : entries) {
    const auto key = FlagKey::parse(e.ip);
    if (!key || e.expires <= now || find(*key) != nullptr) continue;
    if (!make_room(now, e.manual)) continue;
    Slot s;
    s.entry = e;
    s.entry.ip = key->text();
    if (s.entry.sensor.empty()) s.entry.sensor = sensor_;  // a row from before schema 9
    if (!e.manual) s.alerted.emplace_back(e.type, e.expires);  // no second alert for a restored flag
    insert(*key, std::move(s));
  }
  dirty_.clear();  // what was just read is what the store has
}

void FlagTable::set_sensor(std::string name) {
  std::lock_guard lock(mutex_);
  sensor_ = std::move(name);
}

void FlagTable::share_changes(bool on) {
  std::lock_guard lock(mutex_);
  sharing_ = on;
  if (!on) shared_dirty_.clear();
}

std::vector<SharedChange> FlagTable::take_shared_changes() {
  std::lock_guard lock(mutex_);
  std::vector<SharedChange> out;
  out.reserve(shared_dirty_.size());
  for (const auto& [k, removed] : shared_dirty_) {
    if (removed) {
      out.emplace_back(k.text(), std::nullopt);
    } else if (const Slot* s = find(k)) {
      out.emplace_back(k.text(), s->entry);
    }  // else: expired or evicted since, which the fleet need not hear
  }
  shared_dirty_.clear();
  return out;
}

void FlagTable::apply_remote(const FlagEntry& e) {
  const auto key = FlagKey::parse(e.ip);
  if (!key) return;
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  expire(now);
  Slot slot;
  if (Slot* s = find(*key)) {
    slot = std::move(*s);
    erase(*key);
  } else if (e.expires <= now || !make_room(now, e.manual)) {
    if (e.expires > now) {  // no room: dropped and counted like a local automatic flag
      evicted_.fetch_add(1, std::memory_order_relaxed);
      if (on_evict_) on_evict_();
    }
    return;
  }
  if (e.expires <= now) return;  // it ended while on its way: erased above, as it is in the fleet
  slot.entry = e;
  slot.entry.ip = key->text();
  // One alert per flag in the fleet: a local detector that reaches its threshold for
  // this key while the flag lasts only adds to the count.
  bool known = false;
  for (auto& [t, until] : slot.alerted)
    if (t == e.type) until = std::max(until, e.expires), known = true;
  if (!known && !e.manual) slot.alerted.emplace_back(e.type, e.expires);
  insert(*key, std::move(slot));
}

bool FlagTable::alerted(const std::string& text, std::string_view type) {
  const auto key = FlagKey::parse(text);
  if (!key) return false;
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  const Slot* s = find(*key);
  if (s == nullptr || s->entry.expires <= now) return false;
  for (const auto& [t, until] : s->alerted)
    if (t == type && until > now) return true;
  return false;
}

void FlagTable::remove_remote(const std::string& text) {
  const auto key = FlagKey::parse(text);
  if (!key) return;
  std::lock_guard lock(mutex_);
  if (find(*key) != nullptr) erase(*key);
}

void FlagTable::append_json(std::string& out, const std::vector<FlagEntry>& entries) {
  using text::json_string;
  for (const auto& e : entries) {
    if (out.size() > 1) out += ',';
    out += "{\"ip\":" + json_string(e.ip) + ",\"type\":" + json_string(e.type) + ",\"since\":" +
           json_string(text::iso8601_utc(e.since)) + ",\"expires\":" + json_string(text::iso8601_utc(e.expires)) +
           ",\"count\":" + std::to_string(e.count) + ",\"action\":" + json_string(e.block ? "block" : "flag") +
           ",\"sensor\":" + json_string(e.sensor);
    if (e.manual) out += ",\"manual\":true,\"reason\":" + json_string(e.reason);
    out += "}";
  }
}

std::string FlagTable::json(const std::vector<FlagEntry>& entries) {
  std::string out = "[";
  append_json(out, entries);
  return out + "]\n";
}

std::string FlagTable::json() { return json(snapshot()); }

}  // namespace smtp::daemon
