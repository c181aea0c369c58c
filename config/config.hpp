// The typed configuration of smtp-sensor (SPEC section 2), with every default filled in.
#pragma once

#include "config/cidr.hpp"
#include "config/detector_list.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace smtp::config {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

enum class ProxyProtocol : std::uint8_t { none, v1, v2 };
enum class DomainFrom : std::uint8_t { automatic, sender, recipient, auth };
enum class TlsMode : std::uint8_t { passthrough, terminate };
enum class TlsVerify : std::uint8_t { none, ca_file };
enum class Action : std::uint8_t { flag, block };
// SPEC 14: an inbound listener faces clients; an outbound one carries the MTA's own deliveries.
enum class Direction : std::uint8_t { inbound, outbound };
// Who a session's "user" is: auto is the AUTH user, else (outbound) the envelope sender.
enum class UserFrom : std::uint8_t { automatic, auth, sender };
// Where the upstream connection leaves from: the host's own address, or (IP_TRANSPARENT)
// the client's, like HAProxy's `usesrc clientip`.
enum class Source : std::uint8_t { host, client };

// The YAML words of each enum above, declared once: the loader reads them, the printer and
// to_string write them, and an error lists them ("expected none | v1 | v2").
template <class E>
using Word = std::pair<std::string_view, E>;
constexpr auto words(ProxyProtocol) {
  return std::to_array<Word<ProxyProtocol>>({{"none", ProxyProtocol::none}, {"v1", ProxyProtocol::v1}, {"v2", ProxyProtocol::v2}});
}
constexpr auto words(DomainFrom) {
  return std::to_array<Word<DomainFrom>>({{"auto", DomainFrom::automatic}, {"sender", DomainFrom::sender},
                                          {"recipient", DomainFrom::recipient}, {"auth", DomainFrom::auth}});
}
constexpr auto words(TlsMode) {
  return std::to_array<Word<TlsMode>>({{"passthrough", TlsMode::passthrough}, {"terminate", TlsMode::terminate}});
}
constexpr auto words(TlsVerify) {
  return std::to_array<Word<TlsVerify>>({{"none", TlsVerify::none}, {"ca_file", TlsVerify::ca_file}});
}
constexpr auto words(Action) { return std::to_array<Word<Action>>({{"flag", Action::flag}, {"block", Action::block}}); }
constexpr auto words(Direction) {
  return std::to_array<Word<Direction>>({{"inbound", Direction::inbound}, {"outbound", Direction::outbound}});
}
constexpr auto words(UserFrom) {
  return std::to_array<Word<UserFrom>>({{"auto", UserFrom::automatic}, {"auth", UserFrom::auth}, {"sender", UserFrom::sender}});
}
constexpr auto words(Source) { return std::to_array<Word<Source>>({{"host", Source::host}, {"client", Source::client}}); }

template <class E>
concept Worded = std::is_enum_v<E> && requires(E e) { words(e); };

template <Worded E>
constexpr std::string_view to_string(E e) {
  for (const auto& [word, value] : words(e))
    if (value == e) return word;
  return {};
}

// The `upstream` word for transparent interception (SPEC 14).
inline constexpr std::string_view kOriginalDestination = "original-destination";

struct HostPort {
  std::string host;  // an IP literal, without brackets
  std::uint16_t port = 0;
  std::string text() const;  // "1.2.3.4:25" or "[::1]:25"
  // An upstream: text(), or original-destination for the empty host it reads as.
  std::string upstream_text() const { return host.empty() ? std::string(kOriginalDestination) : text(); }
  // "1.2.3.4:25" or "[::1]:25" with an IP literal (what text() writes); empty otherwise.
  static std::optional<HostPort> parse(std::string_view s);
};

struct Tls {
  TlsMode mode = TlsMode::passthrough;
  std::string cert;  // PEM chain and key, for terminate; read again on SIGHUP
  std::string key;
  bool implicit = false;
  // How the sensor, as a TLS client, checks the upstream's certificate (terminate).
  TlsVerify verify = TlsVerify::none;
  std::string ca_file;
  // implicit + terminate: TLS to the upstream from the first byte too (its own port 465);
  // false speaks plaintext to the upstream.
  bool upstream_implicit = true;
};

struct Listener {
  std::string name = "smtp";
  HostPort listen{"0.0.0.0", 2525};
  // `upstream: original-destination` reads as an empty host: connect to the address the
  // client dialled (SO_ORIGINAL_DST), for REDIRECT and TPROXY.
  HostPort upstream{"127.0.0.1", 25};
  ProxyProtocol proxy_protocol_out = ProxyProtocol::none;
  bool proxy_protocol_in = false;
  std::vector<Cidr> trusted_proxies;
  std::uint32_t max_connections = 10000;
  // Sessions one client (an address grouped by `addresses`) may hold open at once; 0: no
  // limit. Our addition, after Postfix's smtpd_client_connection_count_limit: behind the
  // sensor the MTA sees every client as the sensor and cannot limit them itself.
  std::uint32_t max_connections_per_client = 0;
  DomainFrom domain_from = DomainFrom::automatic;
  Direction direction = Direction::inbound;
  UserFrom user_from = UserFrom::automatic;
  Source source = Source::host;  // client needs CAP_NET_ADMIN and the routing in OPERATIONS
  Tls tls;

  bool original_destination() const { return upstream.host.empty(); }
  std::string upstream_text() const { return upstream.upstream_text(); }
};

struct Timeouts {
  Duration connect = 10s;
  Duration greeting = 60s;
  Duration idle = 5min;
  Duration shutdown_grace = 30s;
  Duration proxy_header = 10s;  // our addition: how long a PROXY header may take to arrive
  Duration tls_handshake = 10s;  // our addition: each side's TLS handshake, in terminate mode
};

struct Limits {
  std::uint32_t max_line = 4096;
};

struct HttpTls {
  std::string cert;       // PEM chain; with key, the endpoint speaks HTTPS only (read again on SIGHUP)
  std::string key;
  std::string client_ca;  // PEM CAs: clients must present a certificate one of them signed
};

struct Http {
  std::string listen = "127.0.0.1:9925";  // empty disables the endpoint
  HttpTls tls;
  // user -> bcrypt hash (the exporter-toolkit's web config); empty means no auth.
  std::vector<std::pair<std::string, std::string>> basic_auth;
};

struct Control {
  std::string socket = "/run/smtp-sensor/control.sock";  // empty disables the control socket
};

struct Metrics {
  std::uint32_t domain_label_limit = 200;
};

struct Transcripts {
  bool enabled = true;
  std::string path = "/var/log/smtp-sensor/transcript.log";
  std::uint64_t max_size = 100ull << 20;
  std::uint32_t max_files = 10;
  bool message_data = false;
  std::uint32_t queue_size = 8192;  // our addition: lines held before dropping (each slot ~400 B)
};

struct Alerts {
  std::string path = "/var/log/smtp-sensor/alerts.jsonl";
  std::uint64_t max_size = 100ull << 20;
  std::uint32_t max_files = 10;
  bool syslog = false;
};

struct Store {
  bool enabled = true;  // our addition
  std::string path = "/var/lib/smtp-sensor/sessions.db";
  Duration retention = std::chrono::hours(24 * 400);
  std::uint32_t queue_size = 65536;  // our addition: finished sessions held before dropping
};

// One detector. Each kind uses `threshold` and, for the ratio kinds, `ratio`; the YAML
// key names differ per kind (see SMTP_SENSOR_DETECTORS in config/detector_list.hpp).
struct Detector {
  bool enabled = true;
  Action action = Action::flag;
  Duration window{};
  std::uint64_t threshold = 0;
  double ratio = 0;
};

// One member per detector, named and defaulted as in SMTP_SENSOR_DETECTORS, so that code
// about one detector names it and code about all of them indexes by DetectorId.
struct Detectors {
#define SMTP_SENSOR_DETECTOR_MEMBER(id, tkey, rkey, windowed, enabled, action, window, threshold, ratio, ...) \
  Detector id{enabled, Action::action, window, threshold, ratio};
  SMTP_SENSOR_DETECTORS(SMTP_SENSOR_DETECTOR_MEMBER)
#undef SMTP_SENSOR_DETECTOR_MEMBER
  std::uint32_t max_tracked = 100'000;  // our addition: cap on tracked IPs, and on users (~200 B each)

  Detector& operator[](DetectorId id) { return this->*member(id); }
  const Detector& operator[](DetectorId id) const { return this->*member(id); }

 private:
  static Detector Detectors::*member(DetectorId id) {
    static constexpr Detector Detectors::*kMembers[] = {
#define SMTP_SENSOR_DETECTOR_POINTER(id, ...) &Detectors::id,
        SMTP_SENSOR_DETECTORS(SMTP_SENSOR_DETECTOR_POINTER)
#undef SMTP_SENSOR_DETECTOR_POINTER
    };
    return kMembers[static_cast<std::size_t>(id)];
  }
};

// How detectors group clients (SPEC 15): every address of one prefix is one client.
struct Addresses {
  std::uint32_t ipv4_prefix = 32;
  std::uint32_t ipv6_prefix = 64;
};

struct Flag {
  Duration ttl = 1h;
  std::string block_reply = "554 5.7.1 Access denied";
  std::uint32_t max_entries = 100'000;  // our addition: cap on flagged keys (SPEC 9: eviction)
};

// SPEC 10: this sensor's name in the fleet's rows, flags and alerts.
struct Sensor {
  std::string name;  // empty: the host name, as gethostname() returns it
};

// SPEC 10: the fleet database. An empty url: no fleet, the sensor behaves as a lone one.
struct Fleet {
  std::string url;            // a libpq connection URI
  std::string password_file;  // read at start and on SIGHUP; empty: libpq's own (PGPASSFILE, ~/.pgpass)
  bool share_flags = true;    // publish this sensor's flags and enforce the fleet's
  bool share_counts = true;   // the detectors count the fleet's events
};

struct Config {
  std::string source;  // the file it came from
  std::vector<Listener> listeners{Listener{}};
  std::uint32_t threads = 0;  // 0 = auto, one per core
  Timeouts timeouts;
  Limits limits;
  Http http;
  Control control;
  Metrics metrics;
  Transcripts transcripts;
  Alerts alerts;
  Store store;
  std::vector<Cidr> allow{Cidr::parse("127.0.0.0/8").value()};
  std::vector<Cidr> deny;
  Detectors detectors;
  Addresses addresses;
  Flag flag;
  Sensor sensor;
  Fleet fleet;
};

}  // namespace smtp::config
