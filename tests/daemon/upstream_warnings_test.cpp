// The relay's guards against an upstream that is down or is the sensor itself.
#include "daemon/relay/listener_runtime.hpp"
#include "daemon/relay/original_destination.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

using namespace smtp;
using namespace smtp::daemon;
using namespace std::chrono_literals;

TEST_CASE("an unreachable upstream is warned about once per interval, with the sessions counted in between") {
  UpstreamWarnings w;
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  CHECK(w.refused(t0) == 1);  // the first, at once
  CHECK(w.refused(t0 + 1s) == 0);
  CHECK(w.refused(t0 + 9s) == 0);
  CHECK(w.refused(t0 + UpstreamWarnings::kEvery) == 3);  // the two held back and this one
  CHECK(w.refused(t0 + UpstreamWarnings::kEvery + 1s) == 0);
  CHECK(w.refused(t0 + 2 * UpstreamWarnings::kEvery + 1s) == 2);
}

TEST_CASE("a fixed upstream that is one of the sensor's listeners dials itself") {
  const auto ep = [](const char* a, unsigned short p) { return tcp::endpoint(asio::ip::make_address(a), p); };
  const std::vector<tcp::endpoint> listens{ep("0.0.0.0", 2525), ep("127.0.0.1", 10026)};
  CHECK(dials_itself(ep("127.0.0.1", 2525), listens));   // a local address under the wildcard
  CHECK(dials_itself(ep("127.0.0.1", 10026), listens));  // the same address
  CHECK_FALSE(dials_itself(ep("127.0.0.1", 25), listens));
  CHECK_FALSE(dials_itself(ep("127.0.0.2", 10026), listens));  // another address, a specific bind
  CHECK_FALSE(dials_itself(ep("192.0.2.1", 2525), listens));   // not this host's (TEST-NET-1)
}
