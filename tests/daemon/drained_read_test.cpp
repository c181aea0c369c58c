// ReactorSocket::async_wait_to_read over a real loopback connection, driven as the pump
// drives it (a wait, then reads of its own): a wait after a read that drained the socket
// goes to epoll without a recv(), the wakeup's word on the peer's FIN is right, and no
// byte or end of file is ever missed because of either.
#include "daemon/relay/drained_read.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace smtp::daemon;
using boost::asio::ip::tcp;
namespace asio = boost::asio;

namespace {

struct Pair {
  asio::io_context io{1};
  tcp::socket peer{io};
  std::unique_ptr<ReactorSocket> reader;

  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    reader = std::make_unique<ReactorSocket>(acceptor.accept());
    reader->non_blocking(true);
  }

  struct Result {
    boost::system::error_code ec;
    Readiness readiness;  // of the wait that led to the read that returned something
    std::string bytes;
    int waits = 0;  // how many waits it took (a wait that ends in a read of nothing: one more)
    bool sure = false;  // the read drained the socket, and nothing can be behind it
  };
  std::vector<Result> results;

  // `count` reads in a row, as the pump does them: a wait, a read of at most `size`
  // bytes, and the next wait started in the same handler, told what the read found.
  void start_reads(int count, std::size_t size = 512, bool drained = false, bool sure = false, int waits = 0) {
    reader->async_wait_to_read(
        [this, count, size, waits](const boost::system::error_code& ec, Readiness readiness) {
          if (ec) {
            results.push_back({ec, readiness, {}, waits + 1, false});
            return;
          }
          std::vector<char> buf(size);
          boost::system::error_code rec;
          const std::size_t n = reader->read_some(asio::buffer(buf), rec);
          if (rec == asio::error::would_block) return start_reads(count, size, true, true, waits + 1);
          const bool short_read = !rec && n < size;
          const bool no_fin_behind = short_read && readiness.woken && !readiness.fin;
          results.push_back({rec, readiness, std::string(buf.data(), n), waits + 1, no_fin_behind});
          if (count > 1 && !rec) start_reads(count - 1, size, short_read, no_fin_behind);
        },
        drained, sure);
  }
  // Runs until `done()` (or 2 s: a hang).
  template <class Done>
  bool run_until_done(Done done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    io.restart();
    while (!done() && std::chrono::steady_clock::now() < end) io.run_one_for(std::chrono::milliseconds(20));
    return done();
  }
  // Runs until `n` results are in.
  bool run_until(std::size_t n) {
    return run_until_done([this, n] { return results.size() >= n; });
  }
  // Runs what is ready, without waiting: a wait for epoll stays pending. The guard keeps
  // the io_context from stopping before it has run the wakeups of its last epoll_wait, as
  // the daemon's never stops.
  void poll() {
    const auto guard = asio::make_work_guard(io);
    io.restart();
    io.poll();
  }
  void send(const std::string& s) { asio::write(peer, asio::buffer(s)); }
  void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }
};

}  // namespace

TEST_CASE("a short read, then bytes that come later: the next wait goes to epoll, and they wake it") {
  Pair p;
  p.start_reads(2);
  p.poll();  // nothing there yet: the first wait is in epoll
  p.send("EHLO a\r\n");
  REQUIRE(p.run_until(1));
  CHECK(p.results[0].bytes == "EHLO a\r\n");
  CHECK(p.results[0].readiness.woken);
  CHECK(p.results[0].sure);
  p.poll();
  CHECK(p.results.size() == 1);  // the second wait did not end at once
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    p.send("MAIL FROM:<a@b>\r\n");
  });
  REQUIRE(p.run_until(2));
  later.join();
  CHECK(p.results[1].bytes == "MAIL FROM:<a@b>\r\n");
  CHECK(p.results[1].waits == 1);  // no recv() before epoll said so: it would have failed
  CHECK(p.results[1].readiness.woken);
  CHECK_FALSE(p.results[1].readiness.fin);
}

TEST_CASE("a wait with nothing known of the socket ends at once, and says it was not woken") {
  Pair p;
  p.send("EHLO a\r\n");
  p.settle();
  p.start_reads(1);
  p.poll();  // the speculative wait completes without epoll
  REQUIRE(p.results.size() == 1);
  CHECK(p.results[0].bytes == "EHLO a\r\n");
  CHECK_FALSE(p.results[0].readiness.woken);  // so its word on the FIN is not to be trusted
  CHECK_FALSE(p.results[0].sure);
}

TEST_CASE("bytes and the peer's FIN in one epoll wakeup: the wakeup says the FIN is in") {
  Pair p;
  p.start_reads(2);
  p.poll();
  p.send("QUIT\r\n");
  p.peer.shutdown(tcp::socket::shutdown_send);
  p.settle();  // both are in before the wakeup
  REQUIRE(p.run_until(1));
  CHECK(p.results[0].bytes == "QUIT\r\n");
  CHECK(p.results[0].readiness.woken);
  CHECK(p.results[0].readiness.fin);  // what lets the pump take the short read as the end
  CHECK_FALSE(p.results[0].sure);
  REQUIRE(p.run_until(2));  // and the end of file is really all that is left: no hang
  CHECK(p.results[1].ec == asio::error::eof);
}

TEST_CASE("a short read with the FIN behind, its wait not woken: the next wait does not skip the end of file") {
  Pair p;
  p.send("QUIT\r\n");
  p.peer.shutdown(tcp::socket::shutdown_send);
  p.settle();
  p.poll();  // the wakeup is taken with no wait pending; its events stay the socket's last
  p.start_reads(2);
  REQUIRE(p.run_until(2));  // the socket's last events keep the recv(): no edge would come
  CHECK(p.results[0].bytes == "QUIT\r\n");
  CHECK_FALSE(p.results[0].readiness.woken);
  CHECK(p.results[1].ec == asio::error::eof);
}

TEST_CASE("bytes and a reset in one wakeup: no word on the FIN, and the reset is read as an error, not an end of file") {
  Pair p;
  p.start_reads(3);
  p.poll();
  p.send("QUIT\r\n");
  p.peer.set_option(asio::socket_base::linger(true, 0));  // close() sends a RST
  p.peer.close();
  p.settle();
  REQUIRE(p.run_until_done([&p] { return !p.results.empty() && p.results.back().ec; }));
  CHECK(p.results.back().ec == asio::error::connection_reset);
  for (const auto& r : p.results) CHECK_FALSE(r.readiness.woken);  // EPOLLERR: the wakeup says nothing
}

// The relay's own connect: a wait for writability, then connected_cleanly() instead of a
// getsockopt(SO_ERROR) when the wakeup carried no error.
TEST_CASE("connected_cleanly: yes after a connect that succeeded, no after one that was refused") {
  asio::io_context io{1};
  tcp::acceptor open_port(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::endpoint closed_port;
  {
    tcp::acceptor gone(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = gone.local_endpoint();
  }
  auto connect_and_wait = [&io](const tcp::endpoint& to) {
    ReactorSocket s(io);
    boost::system::error_code ec;
    s.open_non_blocking(tcp::v4(), ec);
    REQUIRE_FALSE(ec);
    const int rc = ::connect(s.native_handle(), to.data(), static_cast<socklen_t>(to.size()));
    REQUIRE((rc == 0 || errno == EINPROGRESS));
    bool woke = false;
    s.async_wait(tcp::socket::wait_write, [&woke](const boost::system::error_code& e) { woke = !e; });
    io.restart();
    io.run_for(std::chrono::seconds(2));
    REQUIRE(woke);
    return s.connected_cleanly();
  };
  CHECK(connect_and_wait(open_port.local_endpoint()));
  CHECK_FALSE(connect_and_wait(closed_port));  // ECONNREFUSED: EPOLLERR, so SO_ERROR is read
}

TEST_CASE("the peer's FIN after a short read: end of file, woken") {
  Pair p;
  p.start_reads(2);
  p.poll();
  p.send("DATA\r\n");
  REQUIRE(p.run_until(1));
  p.settle();
  p.peer.shutdown(tcp::socket::shutdown_send);
  REQUIRE(p.run_until(2));
  CHECK(p.results[1].ec == asio::error::eof);
  CHECK(p.results[1].readiness.woken);
}

TEST_CASE("bytes that arrive while no wait is pending are read after the next one") {
  Pair p;
  p.start_reads(1);
  p.send("RCPT TO:<x@y>\r\n");
  REQUIRE(p.run_until(1));
  p.send("DATA\r\n");  // arrives between reads: its edge fires with nothing queued
  p.settle();
  p.poll();  // the reactor takes the edge with no wait pending, and finds no one
  p.start_reads(1);  // a wait of a new handler: it knows nothing, so it tries at once
  REQUIRE(p.run_until(2));
  CHECK(p.results[1].bytes == "DATA\r\n");
}

TEST_CASE("a read that fills its buffer leaves the rest for the next read at once") {
  Pair p;
  const std::string body(3000, 'x');
  p.send(body);
  p.settle();
  p.start_reads(6, 512);
  REQUIRE(p.run_until(6));
  std::string got;
  for (const auto& r : p.results) {
    CHECK_FALSE(r.ec);
    got += r.bytes;
  }
  CHECK(got == body);
}

TEST_CASE("a wait pending when the socket closes completes with operation_aborted") {
  Pair p;
  p.start_reads(1);
  p.poll();
  CHECK(p.results.empty());
  p.reader->close();
  REQUIRE(p.run_until(1));
  CHECK(p.results[0].ec == asio::error::operation_aborted);
  CHECK_FALSE(p.results[0].readiness.woken);
}

TEST_CASE("a wait pending when the io_context goes is dropped, not run") {
  auto io = std::make_unique<asio::io_context>(1);
  tcp::acceptor acceptor(*io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket peer(*io);
  peer.connect(acceptor.local_endpoint());
  auto reader = std::make_unique<ReactorSocket>(acceptor.accept());
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  bool called = false;
  reader->async_wait_to_read([token, &called](const boost::system::error_code&, Readiness) { called = true; },
                             /*drained=*/true, /*sure=*/true);
  token.reset();
  io->poll();
  CHECK_FALSE(watch.expired());
  reader.reset();  // closing queues the aborted wait
  peer.close();
  acceptor.close();
  io.reset();  // destroyed with the completion still queued
  CHECK(watch.expired());
  CHECK_FALSE(called);
}
