// The detectors of SPEC section 2: per-IP and per-user sliding windows that turn session
// events into findings. Pure: no sockets, no logging; thread-safe.
#pragma once

#include "config/config.hpp"
#include "detect/anomaly_detectors.hpp"
#include "detect/bounded_map.hpp"
#include "detect/detector_event.hpp"
#include "detect/distinct_set.hpp"
#include "detect/finding.hpp"
#include "detect/ip_set.hpp"
#include "detect/sliding_window.hpp"
#include "detect/user_sample.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/container/string.hpp>

namespace smtp::detect {

// Two 64-bit loads and a multiply: an IP key is hashed and compared on every event.
struct IpHash {
  std::size_t operator()(const IpBytes& ip) const noexcept;
};
struct IpEqual {
  bool operator()(const IpBytes& a, const IpBytes& b) const noexcept;
};

enum class AuthOutcome : std::uint8_t { success, failure, unadvertised, aborted };

class Engine {
 public:
  explicit Engine(const config::Detectors& cfg);
  // Thresholds, windows and actions change; what the windows hold is kept.
  void reconfigure(const config::Detectors& cfg);

  // Each event appends what it triggers to `out`; now_s is any monotonic second count.
  void connection(const IpBytes& ip, std::uint32_t now_s, Findings& out);
  void message(const IpBytes& ip, std::string_view user, std::uint32_t now_s, Findings& out);
  void auth(const IpBytes& ip, std::string_view user, AuthOutcome outcome, std::string_view detail, std::uint32_t now_s,
            Findings& out);
  void bad_command(const IpBytes& ip, std::uint32_t now_s, Findings& out);
  // The probe counters keyed by client: recipient_enumeration (a RCPT refused as unknown),
  // relay_probe (a RCPT refused as relaying) and vrfy_expn (a VRFY or EXPN). Any other id is
  // ignored.
  void probe(DetectorId id, const IpBytes& ip, std::uint32_t now_s, Findings& out);
  // The one-occurrence detectors (pregreet, smuggling, starttls_injection) and the
  // once-per-session ones (non_smtp, early_pipelining): one is enough. Any other id is
  // ignored; detector_for() maps a protocol anomaly to its id.
  void anomaly(DetectorId id, std::string_view detail, Findings& out);
  // outbound_rejections (SPEC 14): a remote server refused (5xx after MAIL) mail of
  // `sender`, sent by the local client `ip`. Keyed by the sender; the alert names the
  // sender and carries the client in `ips`, and never flags the client.
  void rejection(const IpBytes& ip, std::string_view sender, std::uint32_t now_s, Findings& out);

  // Another sensor's event (SPEC 10, shared counts): counted in the windows as if it
  // happened at now_s, but it raises nothing here and starts no quiet period. With
  // crossings, each threshold it finds reached (outside a quiet period) is noted there as
  // a bare finding (no detail), for the fleet to decide who raises it.
  void replay(const DetectorEvent& e, std::uint32_t now_s, Findings* crossings = nullptr);

  std::size_t tracked_ips() const { return ips_.size(); }
  std::size_t tracked_users() const { return users_.size(); }

 private:
  // What an AUTH failure touches comes first, so that the common event reads few cache
  // lines. The distinct sets hold the default thresholds (password_spray 5,
  // distributed_bruteforce 10) inline.
  struct IpState {
    // Until when each IP-keyed detector stays quiet, at config::quiet_slot(id).
    std::array<std::uint32_t, config::quiet_slots(config::Counts::ip)> quiet_until{};
    std::uint32_t& quiet(DetectorId id) { return quiet_until[config::quiet_slot(id)]; }
    SlidingWindow auth_failures;
    SlidingWindow login_failures;  // auth_success_after_failures: failed logins, any user
    DistinctSet<5> failed_users;
    UserSample recent_users;  // for the alert's "users"
    SlidingWindow unadvertised;
    SlidingWindow bad_commands;
    SlidingWindow connections;
    SlidingWindow messages;
    // recipient_enumeration, relay_probe and vrfy_expn: most clients never probe, so their
    // windows are allocated on the first probe and cost a pointer until then.
    struct Probes {
      std::array<SlidingWindow, 3> windows;
    };
    std::unique_ptr<Probes> probes;
  };
  struct UserState {
    std::array<std::uint32_t, config::quiet_slots(config::Counts::user)> quiet_until{};
    std::uint32_t& quiet(DetectorId id) { return quiet_until[config::quiet_slot(id)]; }
    IpSet<10> failing_ips;  // distributed_bruteforce: kept whole for the alert's "ips"
    SlidingWindow rejections;  // outbound_rejections: remote refusals of this sender's mail
    IpSet<0> login_ips;     // user_many_ips: clients with a successful login, on the heap, so that the users AUTH failures track do not carry it
    // compromised_account: messages in the current fixed window, and an exponentially
    // weighted baseline of the previous windows.
    std::uint32_t window_start = 0;
    std::uint32_t current = 0;
    double baseline = 0;
    std::uint32_t windows_seen = 0;
  };

  // The config as of the last reconfigure that this thread has seen; valid until this
  // thread's next call, so read once per event. Lock-free unless the config changed.
  const config::Detectors& config() const;

  // config_ changes only under config_mutex_, and each change takes a generation number
  // that no engine has used before, so a thread's cached copy is current exactly when
  // its number equals generation_ (whichever engine, old or new, lives at this address).
  mutable std::mutex config_mutex_;
  std::shared_ptr<const config::Detectors> config_;
  std::atomic<std::uint64_t> generation_;
  BoundedMap<IpBytes, IpState, IpHash, IpEqual> ips_;
  // Usernames of up to 22 bytes fit in boost's short-string buffer, inside the table entry,
  // so confirming a match costs no extra cache miss; longer ones cost one.
  BoundedMap<boost::container::string, UserState, StringHash> users_;
};

std::string_view to_string(AuthOutcome o);

}  // namespace smtp::detect
