// The keys of the config's mappings, one table each, shared by the loader and the printer.
#pragma once

#include "config/config.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace smtp::config {

// How a key is read, checked and printed.
enum class FieldKind : std::uint8_t {
  boolean,          // true | false (yes/no/on/off read too)
  text,             // any string; null reads as empty
  duration,         // 30s, 10m, ... longer than 0
  duration_or_zero, // 0s allowed
  size,             // 64KiB, 100MiB, ... larger than 0; printed with its unit
  integer,          // a whole number in [min, max]
  line_size,        // a size in [min, max] bytes, printed as a plain number
  listen_address,   // IP:PORT with no name lookup; empty or null disables
  reply_line,       // one SMTP 5xx reply line, sent to clients verbatim
  choice,           // one of an enum's words (config.hpp)
  cidrs,            // a list of addresses and networks
  host_port,        // IP:PORT with no name lookup
  upstream,         // HOST:PORT, a name looked up once at load; or original-destination
};

template <class S>
struct Field {
  std::string_view key;
  FieldKind kind;
  std::variant<bool S::*, std::string S::*, Duration S::*, std::uint32_t S::*, std::uint64_t S::*, HostPort S::*,
               std::vector<Cidr> S::*, ProxyProtocol S::*, DomainFrom S::*, Direction S::*, UserFrom S::*, Source S::*,
               TlsMode S::*, TlsVerify S::*>
      member;
  std::uint64_t min = 0;  // integer and line_size only
  std::uint64_t max = 0;

  // The member type each kind reads into, checked at compile time below.
  constexpr bool consistent() const {
    switch (kind) {
      case FieldKind::boolean: return std::holds_alternative<bool S::*>(member);
      case FieldKind::text:
      case FieldKind::listen_address:
      case FieldKind::reply_line: return std::holds_alternative<std::string S::*>(member);
      case FieldKind::duration:
      case FieldKind::duration_or_zero: return std::holds_alternative<Duration S::*>(member);
      case FieldKind::size: return std::holds_alternative<std::uint64_t S::*>(member);
      case FieldKind::integer:
      case FieldKind::line_size: return std::holds_alternative<std::uint32_t S::*>(member) && min <= max;
      case FieldKind::choice:
        return std::visit([]<class T>(T S::*) { return Worded<T>; }, member);
      case FieldKind::cidrs: return std::holds_alternative<std::vector<Cidr> S::*>(member);
      case FieldKind::host_port:
      case FieldKind::upstream: return std::holds_alternative<HostPort S::*>(member);
    }
    return false;
  }
};

template <class S, std::size_t N>
constexpr bool consistent(const std::array<Field<S>, N>& fields) {
  for (const auto& f : fields)
    if (!f.consistent()) return false;
  return true;
}

// One top-level key holding a flat mapping; the key order is the printed order.
template <class S, std::size_t N>
struct Section {
  std::string_view name;
  S Config::*member;
  std::array<Field<S>, N> fields;

  constexpr bool consistent() const { return config::consistent(fields); }
};
template <class S, std::size_t N>
Section(std::string_view, S Config::*, std::array<Field<S>, N>) -> Section<S, N>;

namespace sections {
using K = FieldKind;

// One entry of `listeners:`; `tls` is a mapping inside it.
inline constexpr auto listener = std::to_array<Field<Listener>>({
    {"name", K::text, &Listener::name},
    {"listen", K::host_port, &Listener::listen},
    {"upstream", K::upstream, &Listener::upstream},
    {"proxy_protocol_out", K::choice, &Listener::proxy_protocol_out},
    {"proxy_protocol_in", K::boolean, &Listener::proxy_protocol_in},
    {"trusted_proxies", K::cidrs, &Listener::trusted_proxies},
    {"max_connections", K::integer, &Listener::max_connections, 1, 10'000'000},
    {"max_connections_per_client", K::integer, &Listener::max_connections_per_client, 0, 10'000'000},
    {"domain_from", K::choice, &Listener::domain_from},
    {"direction", K::choice, &Listener::direction},
    {"user_from", K::choice, &Listener::user_from},
    {"source", K::choice, &Listener::source},
});
inline constexpr auto listener_tls = std::to_array<Field<Tls>>({
    {"mode", K::choice, &Tls::mode},
    {"cert", K::text, &Tls::cert},
    {"key", K::text, &Tls::key},
    {"implicit", K::boolean, &Tls::implicit},
    {"verify", K::choice, &Tls::verify},
    {"ca_file", K::text, &Tls::ca_file},
    {"upstream_implicit", K::boolean, &Tls::upstream_implicit},
});

inline constexpr Section timeouts{"timeouts", &Config::timeouts, std::array<Field<Timeouts>, 6>{{
    {"connect", K::duration, &Timeouts::connect},
    {"greeting", K::duration, &Timeouts::greeting},
    {"idle", K::duration, &Timeouts::idle},
    {"shutdown_grace", K::duration_or_zero, &Timeouts::shutdown_grace},
    {"proxy_header", K::duration, &Timeouts::proxy_header},
    {"tls_handshake", K::duration, &Timeouts::tls_handshake},
}}};
inline constexpr Section limits{"limits", &Config::limits, std::array<Field<Limits>, 1>{{
    {"max_line", K::line_size, &Limits::max_line, 512, 1u << 20},
}}};
inline constexpr Section http{"http", &Config::http, std::array<Field<Http>, 1>{{
    {"listen", K::listen_address, &Http::listen},
}}};
// http.tls, a mapping inside http (read by the http section's reader).
inline constexpr std::array<Field<HttpTls>, 3> http_tls{{
    {"cert", K::text, &HttpTls::cert},
    {"key", K::text, &HttpTls::key},
    {"client_ca", K::text, &HttpTls::client_ca},
}};
inline constexpr Section control{"control", &Config::control, std::array<Field<Control>, 1>{{
    {"socket", K::text, &Control::socket},
}}};
inline constexpr Section metrics{"metrics", &Config::metrics, std::array<Field<Metrics>, 1>{{
    {"domain_label_limit", K::integer, &Metrics::domain_label_limit, 0, 100'000},
}}};
inline constexpr Section transcripts{"transcripts", &Config::transcripts, std::array<Field<Transcripts>, 6>{{
    {"enabled", K::boolean, &Transcripts::enabled},
    {"path", K::text, &Transcripts::path},
    {"max_size", K::size, &Transcripts::max_size},
    {"max_files", K::integer, &Transcripts::max_files, 1, 1000},
    {"message_data", K::boolean, &Transcripts::message_data},
    {"queue_size", K::integer, &Transcripts::queue_size, 16, 10'000'000},
}}};
inline constexpr Section alerts{"alerts", &Config::alerts, std::array<Field<Alerts>, 4>{{
    {"path", K::text, &Alerts::path},
    {"max_size", K::size, &Alerts::max_size},
    {"max_files", K::integer, &Alerts::max_files, 1, 1000},
    {"syslog", K::boolean, &Alerts::syslog},
}}};
inline constexpr Section store{"store", &Config::store, std::array<Field<Store>, 4>{{
    {"enabled", K::boolean, &Store::enabled},
    {"path", K::text, &Store::path},
    {"retention", K::duration, &Store::retention},
    {"queue_size", K::integer, &Store::queue_size, 16, 10'000'000},
}}};
inline constexpr Section flag{"flag", &Config::flag, std::array<Field<Flag>, 3>{{
    {"ttl", K::duration, &Flag::ttl},
    {"block_reply", K::reply_line, &Flag::block_reply},
    {"max_entries", K::integer, &Flag::max_entries, 1, 10'000'000},
}}};
inline constexpr Section addresses{"addresses", &Config::addresses, std::array<Field<Addresses>, 2>{{
    {"ipv4_prefix", K::integer, &Addresses::ipv4_prefix, 8, 32},
    {"ipv6_prefix", K::integer, &Addresses::ipv6_prefix, 16, 128},
}}};
inline constexpr Section sensor{"sensor", &Config::sensor, std::array<Field<Sensor>, 1>{{
    {"name", K::text, &Sensor::name},
}}};
inline constexpr Section fleet{"fleet", &Config::fleet, std::array<Field<Fleet>, 4>{{
    {"url", K::text, &Fleet::url},
    {"password_file", K::text, &Fleet::password_file},
    {"share_flags", K::boolean, &Fleet::share_flags},
    {"share_counts", K::boolean, &Fleet::share_counts},
}}};

static_assert(consistent(listener) && consistent(listener_tls) && consistent(http_tls));
static_assert(sensor.consistent() && fleet.consistent() && addresses.consistent() && timeouts.consistent() && limits.consistent() && http.consistent() &&
              metrics.consistent() && transcripts.consistent() && alerts.consistent() && store.consistent() &&
              flag.consistent() && control.consistent());
}  // namespace sections

}  // namespace smtp::config
