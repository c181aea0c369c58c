// Transparent interception: where an iptables-REDIRECTed connection was really going.
#pragma once

#include "daemon/asio.hpp"

#include <optional>

namespace smtp::daemon {

// SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6). Empty when the connection was
// not redirected, or when the original destination is this very socket, which would
// make the daemon connect to itself in a loop.
std::optional<tcp::endpoint> original_destination(tcp::socket& client);

}  // namespace smtp::daemon
