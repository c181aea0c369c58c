// The "is this the sensor itself" decision of transparent interception.
#include "daemon/relay/original_destination.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace smtp;
using namespace smtp::daemon;

namespace {

tcp::endpoint ep(const char* a, std::uint16_t port) { return {asio::ip::make_address(a), port}; }

// This "host" owns 127.0.0.1, 198.18.0.1 and ::1.
bool host_local(const asio::ip::address& a) {
  return a == asio::ip::make_address("127.0.0.1") || a == asio::ip::make_address("198.18.0.1") ||
         a == asio::ip::make_address("::1");
}

}  // namespace

TEST_CASE("a redirected connection to a remote MX is relayed") {
  const std::vector<tcp::endpoint> listens{ep("127.0.0.1", 10026), ep("0.0.0.0", 25)};
  CHECK(classify_destination(ep("198.19.0.2", 25), listens, 10026, host_local) == Interception::relay);
  CHECK(classify_destination(ep("fd00:198:18::2", 25), listens, 10026, host_local) == Interception::relay);
}

TEST_CASE("a direct connection to the listener was not intercepted") {
  const std::vector<tcp::endpoint> listens{ep("127.0.0.1", 10026)};
  CHECK(classify_destination(ep("127.0.0.1", 10026), listens, 10026, host_local) == Interception::not_intercepted);
  // Any local address on the listener's port, e.g. a wildcard listener reached by its LAN address.
  CHECK(classify_destination(ep("198.18.0.1", 10026), listens, 10026, host_local) == Interception::not_intercepted);
  CHECK(classify_destination(ep("::1", 10026), listens, 10026, host_local) == Interception::not_intercepted);
}

TEST_CASE("a destination that is another of the sensor's listeners would loop") {
  const std::vector<tcp::endpoint> listens{ep("127.0.0.1", 10026), ep("0.0.0.0", 25), ep("127.0.0.2", 587)};
  CHECK(classify_destination(ep("198.18.0.1", 25), listens, 10026, host_local) == Interception::loop);
  CHECK(classify_destination(ep("127.0.0.2", 587), listens, 10026, host_local) == Interception::loop);
  // The same port on a remote host is not us.
  CHECK(classify_destination(ep("198.19.0.2", 587), listens, 10026, host_local) == Interception::relay);
}

TEST_CASE("under TPROXY the listener's port on a foreign address is relayed") {
  // TPROXY keeps the remote's address as the socket's local one: not ours, so relayed,
  // even when the remote's port equals the listener's.
  const std::vector<tcp::endpoint> listens{ep("0.0.0.0", 25)};
  CHECK(classify_destination(ep("198.19.0.2", 25), listens, 25, host_local) == Interception::relay);
}

TEST_CASE("the local-address check is only made when a port matches") {
  const std::vector<tcp::endpoint> listens{ep("127.0.0.1", 10026)};
  int asked = 0;
  const auto counting = [&](const asio::ip::address& a) { return ++asked, host_local(a); };
  CHECK(classify_destination(ep("198.19.0.2", 25), listens, 10026, counting) == Interception::relay);
  CHECK(asked == 0);
}

TEST_CASE("is_local_address asks the kernel") {
  CHECK(is_local_address(asio::ip::make_address("127.0.0.1")));
  CHECK_FALSE(is_local_address(asio::ip::make_address("198.51.100.77")));  // TEST-NET-2, never configured here
}

TEST_CASE("upstream_text writes IPv6 in brackets and unmaps IPv4") {
  CHECK(upstream_text(ep("198.19.0.2", 25)) == "198.19.0.2:25");
  CHECK(upstream_text(ep("fd00:198:18::2", 25)) == "[fd00:198:18::2]:25");
  CHECK(upstream_text(ep("::ffff:198.19.0.2", 25)) == "198.19.0.2:25");
}

TEST_CASE("a fixed upstream that is one of the sensor's listeners dials itself") {
  // The real is_local_address: 127.0.0.1 is this host's, 192.0.2.1 (TEST-NET-1) is not.
  const std::vector<tcp::endpoint> listens{ep("0.0.0.0", 2525), ep("127.0.0.1", 10026)};
  CHECK(dials_itself(ep("127.0.0.1", 2525), listens));   // a local address under the wildcard
  CHECK(dials_itself(ep("127.0.0.1", 10026), listens));  // the same address
  CHECK_FALSE(dials_itself(ep("127.0.0.1", 25), listens));
  CHECK_FALSE(dials_itself(ep("127.0.0.2", 10026), listens));  // another address, a specific bind
  CHECK_FALSE(dials_itself(ep("192.0.2.1", 2525), listens));   // not this host's (TEST-NET-1)
}
