// When two binds, or a connect and a bind, meet on one host: for the loader's checks of listen addresses and upstreams.
#pragma once

#include "config/config.hpp"

#include <string_view>

namespace smtp::config {

inline bool is_wildcard(const HostPort& a) { return a.host == "0.0.0.0" || a.host == "::"; }
inline bool is_v6(const HostPort& a) { return a.host.find(':') != std::string::npos; }

// A wildcard bind that takes `b`'s family: "[::]" takes IPv4 too, since listeners clear
// IPV6_V6ONLY (daemon/server.cpp).
inline bool wildcard_covers(const HostPort& any, const HostPort& b) {
  return is_wildcard(any) && (any.host == "::" || !is_v6(b));
}

// Two binds that cannot both succeed: the same address and port, or a wildcard of the
// other's family on the same port.
inline bool binds_clash(const HostPort& a, const HostPort& b) {
  return a.port == b.port && (a.host == b.host || wildcard_covers(a, b) || wildcard_covers(b, a));
}

// A connect to `to` that reaches a socket bound to `bound` on any host: the same address,
// or loopback under a wildcard bind (connect() takes 0.0.0.0 and :: for loopback too).
// Other addresses of the host are known only at run time (daemon/relay/original_destination.hpp).
inline bool connect_reaches(const HostPort& to, const HostPort& bound) {
  if (to.port != bound.port) return false;
  if (to.host == bound.host) return true;
  const std::string_view h = to.host;
  const bool loopback = h.starts_with("127.") || h == "::1" || is_wildcard(to);
  return loopback && wildcard_covers(bound, to);
}

}  // namespace smtp::config
