#include "daemon/relay/original_destination.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace smtp::daemon {

std::optional<tcp::endpoint> original_destination(tcp::socket& client) {
  error_code ec;
  const auto local = client.local_endpoint(ec);
  if (ec) return std::nullopt;
  tcp::endpoint target;
  socklen_t len = static_cast<socklen_t>(target.capacity());
  const bool v6 = local.address().is_v6() && !local.address().to_v6().is_v4_mapped();
  const int rc = v6 ? getsockopt(client.native_handle(), SOL_IPV6, IP6T_SO_ORIGINAL_DST, target.data(), &len)
                    : getsockopt(client.native_handle(), SOL_IP, SO_ORIGINAL_DST, target.data(), &len);
  if (rc != 0) return std::nullopt;
  target.resize(len);
  if (target == local) return std::nullopt;
  return target;
}

}  // namespace smtp::daemon
