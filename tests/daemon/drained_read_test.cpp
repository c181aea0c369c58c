// ReactorSocket::async_read_drained over a real loopback connection: a short read lets the
// next read wait for epoll, and no byte or end of file is ever missed because of it.
#include "daemon/relay/drained_read.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <thread>
#include <optional>
#include <string>
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

  // One read of at most `size` bytes, run to completion (or 2 s: then nullopt, a hang).
  struct Result {
    boost::system::error_code ec;
    std::string bytes;
  };
  std::optional<Result> read(std::size_t size = 512) {
    std::vector<char> buf(size);
    std::optional<Result> out;
    start_read(buf, out);
    run();
    return out;
  }
  // Starts a read into `buf`; its result lands in `out` once the io_context runs it.
  void start_read(std::vector<char>& buf, std::optional<Result>& out) {
    reader->async_read_drained(buf, [&buf, &out](const boost::system::error_code& ec, std::size_t n) {
      out = Result{ec, std::string(buf.data(), n)};
    });
  }
  void run() {
    io.restart();
    io.run_for(std::chrono::seconds(2));
  }
  // Runs what is ready, without waiting: a pending read stays pending.
  void poll() {
    io.restart();
    io.poll();
  }
  void send(const std::string& s) { asio::write(peer, asio::buffer(s)); }
  // A read that waits, nothing having arrived yet: its result lands in `pending` later.
  void start_pending_read() {
    pending_buf.assign(512, 0);
    start_read(pending_buf, pending);
    poll();
  }
  std::vector<char> pending_buf;
  std::optional<Result> pending;
  // The peer sends `s` and one read returns it whole.
  void exchange(const std::string& s) {
    send(s);
    const auto r = read();
    REQUIRE(r);
    CHECK(r->bytes == s);
  }
};

}  // namespace

TEST_CASE("a short read, then bytes that come later: the next read waits for them") {
  Pair p;
  p.exchange("EHLO a\r\n");
  // The socket is drained now; the next read must be woken by epoll, not by a recv().
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    p.send("MAIL FROM:<a@b>\r\n");
  });
  const auto r = p.read();
  later.join();
  REQUIRE(r);
  CHECK(r->bytes == "MAIL FROM:<a@b>\r\n");
}

TEST_CASE("bytes and the peer's FIN in one epoll wakeup: the bytes, then end of file, no hang") {
  Pair p;
  // The read waits first, so that bytes and FIN reach it together, in one event.
  p.start_pending_read();
  REQUIRE_FALSE(p.pending);
  p.send("QUIT\r\n");
  p.peer.shutdown(tcp::socket::shutdown_send);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // both are in before the wakeup
  p.run();
  REQUIRE(p.pending);
  CHECK(p.pending->bytes == "QUIT\r\n");
  CHECK(p.reader->fin_seen());  // what tells the pump to read the end of file in this handler
  const auto r = p.read();
  REQUIRE(r);  // a short read with the FIN behind it must not wait for an edge that never comes
  CHECK(r->ec == asio::error::eof);
}

TEST_CASE("bytes without a FIN: fin_seen says nothing is behind them") {
  Pair p;
  p.start_pending_read();
  p.send("MAIL FROM:<a@b>\r\n");
  p.run();
  REQUIRE(p.pending);
  CHECK_FALSE(p.reader->fin_seen());
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

TEST_CASE("the peer's FIN after a short read, while no read is pending: end of file") {
  Pair p;
  p.exchange("DATA\r\n");
  p.peer.shutdown(tcp::socket::shutdown_send);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto r = p.read();
  REQUIRE(r);
  CHECK(r->ec == asio::error::eof);
}

TEST_CASE("bytes that arrive while no read is pending are read by the next one") {
  Pair p;
  p.exchange("RCPT TO:<x@y>\r\n");
  p.send("DATA\r\n");  // arrives between reads: its edge fires with nothing queued
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  p.poll();  // the reactor takes the edge with no read pending, and finds no one
  const auto r = p.read();
  REQUIRE(r);
  CHECK(r->bytes == "DATA\r\n");
}

TEST_CASE("a read that fills its buffer leaves the rest for the next read at once") {
  Pair p;
  const std::string body(3000, 'x');
  p.send(body);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::string got;
  while (got.size() < body.size()) {
    auto r = p.read(512);
    REQUIRE(r);
    REQUIRE_FALSE(r->ec);
    got += r->bytes;
  }
  CHECK(got == body);
}

TEST_CASE("a read pending when the socket closes completes with operation_aborted") {
  Pair p;
  p.start_pending_read();
  CHECK_FALSE(p.pending);
  p.reader->close();
  p.run();
  REQUIRE(p.pending);
  CHECK(p.pending->ec == asio::error::operation_aborted);
}

TEST_CASE("a read pending when the io_context goes is dropped, not run") {
  auto io = std::make_unique<asio::io_context>(1);
  tcp::acceptor acceptor(*io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket peer(*io);
  peer.connect(acceptor.local_endpoint());
  auto reader = std::make_unique<ReactorSocket>(acceptor.accept());
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  bool called = false;
  std::vector<char> buf(512);
  reader->async_read_drained(buf, [token, &called](const boost::system::error_code&, std::size_t) { called = true; });
  token.reset();
  io->poll();
  CHECK_FALSE(watch.expired());
  reader.reset();  // closing queues the aborted read
  peer.close();
  acceptor.close();
  io.reset();  // destroyed with the completion still queued
  CHECK(watch.expired());
  CHECK_FALSE(called);
}
