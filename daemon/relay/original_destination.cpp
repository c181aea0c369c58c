#include "daemon/relay/original_destination.hpp"

#include "daemon/address.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace smtp::daemon {

std::optional<tcp::endpoint> dialled_destination(tcp::socket& client) {
  error_code ec;
  const auto local = client.local_endpoint(ec);
  if (ec) return std::nullopt;
  tcp::endpoint target;
  const bool v6 = local.address().is_v6() && !local.address().to_v6().is_v4_mapped();
  // The IPv4 call fills a sockaddr_in and leaves the length as it was: ask for that size.
  socklen_t len = v6 ? static_cast<socklen_t>(sizeof(sockaddr_in6)) : static_cast<socklen_t>(sizeof(sockaddr_in));
  const int rc = v6 ? getsockopt(client.native_handle(), SOL_IPV6, IP6T_SO_ORIGINAL_DST, target.data(), &len)
                    : getsockopt(client.native_handle(), SOL_IP, SO_ORIGINAL_DST, target.data(), &len);
  // No conntrack entry (TPROXY without conntrack, or nothing intercepted): the socket
  // itself says where the client was going.
  if (rc != 0) return tcp::endpoint(unmapped(local.address()), local.port());
  target.resize(len);
  return tcp::endpoint(unmapped(target.address()), target.port());
}

bool is_local_address(const asio::ip::address& a) {
  const auto addr = unmapped(a);
  const tcp::endpoint probe(addr, 0);
  const int fd = ::socket(addr.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // cannot tell: refusing is safer than a loop
  const bool local = ::bind(fd, probe.data(), static_cast<socklen_t>(probe.size())) == 0;
  ::close(fd);
  return local;
}

std::string upstream_text(const tcp::endpoint& e) {
  const auto a = unmapped(e.address());
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "[" + std::string.
  std::string out;
  if (a.is_v6()) out += '[';
  out += a.to_string();
  if (a.is_v6()) out += ']';
  out += ':';
  out += std::to_string(e.port());
  return out;
}

const char* to_string(Interception i) {
  switch (i) {
    case Interception::relay: return "relay";
    case Interception::not_intercepted: return "not intercepted";
    case Interception::loop: return "original destination is the sensor itself";
  }
  return "?";
}

}  // namespace smtp::daemon
