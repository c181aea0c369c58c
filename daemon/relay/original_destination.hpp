// Transparent interception: where an intercepted connection was really going, and whether that is us.
#pragma once

#include "daemon/asio.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace smtp::daemon {

// The address the client dialled: SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6)
// after a REDIRECT; when the kernel has no NAT entry for it (TPROXY, or nothing
// intercepted the connection), the socket's own local address, which under TPROXY is
// the remote's. Empty only if the socket is already gone.
std::optional<tcp::endpoint> dialled_destination(tcp::socket& client);

// True when `a` is an address of this host (a bind to it succeeds without
// IP_TRANSPARENT). One socket and one bind: asked only when the port makes it matter.
bool is_local_address(const asio::ip::address& a);

// Why an original destination cannot be relayed to. A connection that reached the
// listener's own port on a local address was not intercepted (a client dialled the
// sensor directly); one whose destination is another of the sensor's listeners would
// loop through it. Either way the sensor would end up connecting to itself.
enum class Interception : std::uint8_t { relay, not_intercepted, loop };

// The pure decision, for a doctest. `listens` are every listener's listen endpoint
// (an unspecified address means "any local address on that port"); `listener_port` is
// this listener's; `is_local` answers is_local_address, and is only called when a port
// matches.
template <class IsLocal>
Interception classify_destination(const tcp::endpoint& target, std::span<const tcp::endpoint> listens,
                                  std::uint16_t listener_port, IsLocal&& is_local) {
  std::optional<bool> local;
  const auto target_local = [&] {
    if (!local) local = is_local(target.address());
    return *local;
  };
  if (target.port() == listener_port && target_local()) return Interception::not_intercepted;
  for (const auto& l : listens) {
    if (l.port() != target.port()) continue;
    if (l.address() == target.address()) return Interception::loop;
    if (l.address().is_unspecified() && target_local()) return Interception::loop;
  }
  return Interception::relay;
}

const char* to_string(Interception i);

// A fixed upstream that is the sensor itself: a listener's own address, or an address of
// this host under a wildcard listen. Each session would dial the sensor again until
// descriptors ran out. The loader refuses the loopback cases at their line; the host's
// other addresses are known only here, at start and reload.
inline bool dials_itself(const tcp::endpoint& upstream, std::span<const tcp::endpoint> listens) {
  return classify_destination(upstream, listens, 0, [](const asio::ip::address& a) { return is_local_address(a); }) ==
         Interception::loop;
}

// "198.51.100.7:25" or "[2001:db8::7]:25", as config::HostPort writes an upstream.
std::string upstream_text(const tcp::endpoint& e);

}  // namespace smtp::daemon
