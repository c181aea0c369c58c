#include "daemon/relay/nonblocking_accept.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>

#include <array>
#include <memory>
#include <optional>
#include <string_view>

using namespace smtp::daemon;
using boost::asio::ip::tcp;

namespace {

const auto kLoopback = boost::asio::ip::make_address("127.0.0.1");

// The context every accept of a test puts its socket on.
auto on(boost::asio::io_context& context) {
  return [&context]() -> boost::asio::io_context& { return context; };
}

// What the handler got.
struct Accepted {
  boost::system::error_code ec;
  std::optional<tcp::socket> socket;
};

}  // namespace

TEST_CASE("an accepted socket is non-blocking from the start, lives on the target context and knows its peer") {
  boost::asio::io_context home(1);
  boost::asio::io_context target(1);
  NonBlockingAcceptor acceptor(home, tcp::endpoint(kLoopback, 0));
  tcp::endpoint peer;
  Accepted got;
  acceptor.async_accept_non_blocking(on(target), peer, [&got](const boost::system::error_code& ec, tcp::socket s) {
    got.ec = ec;
    got.socket.emplace(std::move(s));
  });
  CHECK(home.poll() == 0);  // nobody has connected: the accept waits in the reactor

  boost::asio::io_context client_context;
  tcp::socket client(client_context);
  client.connect(acceptor.local_endpoint());
  for (int i = 0; i < 100 && !got.socket; ++i) home.run_one_for(std::chrono::milliseconds(50));
  REQUIRE(got.socket.has_value());
  REQUIRE_FALSE(got.ec);
  auto& s = *got.socket;
  CHECK(&s.get_executor().context() == &target);
  CHECK((::fcntl(s.native_handle(), F_GETFL) & O_NONBLOCK) != 0);
  CHECK(s.non_blocking());  // Asio knows, so it sets nothing before the first read
  CHECK((::fcntl(s.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK(peer == client.local_endpoint());

  // A read with nothing there says would_block instead of blocking the thread.
  std::array<char, 16> buf{};
  boost::system::error_code rec;
  CHECK(s.read_some(boost::asio::buffer(buf), rec) == 0);
  CHECK(rec == boost::asio::error::would_block);
  // And the socket works through the target's reactor.
  boost::asio::write(client, boost::asio::buffer(std::string_view("EHLO x\r\n")));
  std::size_t n = 0;
  s.async_read_some(boost::asio::buffer(buf), [&n](const boost::system::error_code& ec, std::size_t k) { n = ec ? 0 : k; });
  target.run_for(std::chrono::seconds(2));
  CHECK(std::string_view(buf.data(), n) == "EHLO x\r\n");
}

TEST_CASE("accepts one connection per call, and a closed listener cancels the wait") {
  boost::asio::io_context home(1);
  NonBlockingAcceptor acceptor(home, tcp::endpoint(kLoopback, 0));
  boost::asio::io_context client_context;
  tcp::socket a(client_context), b(client_context);
  a.connect(acceptor.local_endpoint());
  b.connect(acceptor.local_endpoint());
  tcp::endpoint peer;
  int accepted = 0;
  auto count = [&accepted](const boost::system::error_code& ec, tcp::socket) { accepted += ec ? 0 : 1; };
  acceptor.async_accept_non_blocking(on(home), peer, count);
  home.run_for(std::chrono::milliseconds(200));
  CHECK(accepted == 1);  // the second waits in the backlog for the next call
  acceptor.async_accept_non_blocking(on(home), peer, count);
  home.restart();
  home.run_for(std::chrono::milliseconds(200));
  CHECK(accepted == 2);

  boost::system::error_code result;
  acceptor.async_accept_non_blocking(on(home), peer, [&result](const boost::system::error_code& ec, tcp::socket) { result = ec; });
  acceptor.close();
  home.restart();
  home.run_for(std::chrono::milliseconds(200));
  CHECK(result == boost::asio::error::operation_aborted);
}

TEST_CASE("a pending accept dropped at shutdown never runs its handler and frees it") {
  auto home = std::make_unique<boost::asio::io_context>(1);
  boost::asio::io_context target(1);
  auto acceptor = std::make_unique<NonBlockingAcceptor>(*home, tcp::endpoint(kLoopback, 0));
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  bool called = false;
  tcp::endpoint peer;
  acceptor->async_accept_non_blocking(on(target), peer, [token, &called](const boost::system::error_code&, tcp::socket) { called = true; });
  token.reset();
  CHECK_FALSE(watch.expired());
  acceptor.reset();  // cancelled: the handler waits in home's queue
  CHECK_FALSE(watch.expired());
  home.reset();  // destroyed with it queued
  CHECK(watch.expired());
  CHECK_FALSE(called);
}
