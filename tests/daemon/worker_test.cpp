#include "daemon/relay/worker.hpp"

#include "daemon/relay/nonblocking_accept.hpp"

#include <doctest/doctest.h>

#include <pthread.h>

#include <future>
#include <memory>
#include <string>

using namespace smtp::daemon;
using boost::asio::ip::tcp;

// The daemon accepts on a listener's home worker straight into the socket of the next
// worker round robin, so an accept pending in one context holds on to another, where its
// socket is made (and a completed one waiting in the queue holds that socket).
TEST_CASE("a pending accept for another worker is dropped while both contexts still exist") {
  auto target = std::make_unique<Worker>(0);
  auto home = std::make_unique<Worker>(1);
  auto acceptor = std::make_unique<NonBlockingAcceptor>(home->context(), tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  bool called = false;
  tcp::endpoint peer;
  acceptor->async_accept_non_blocking(target->context(), peer,
                                      [token, &called](const boost::system::error_code&, tcp::socket) { called = true; });
  token.reset();
  target->stop();
  home->stop();
  acceptor.reset();  // the accept is cancelled; its handler waits in home's queue
  CHECK_FALSE(watch.expired());

  target->drop_pending();
  home->drop_pending();
  CHECK(watch.expired());  // the handler, and the target worker's socket in it, are gone
  CHECK_FALSE(called);     // dropped, not run: the daemon is shutting down
  // Destroying the target first is what used to free a socket service still in use (ASan).
  target.reset();
  home.reset();
}

TEST_CASE("a worker's thread is named after its index") {
  Worker worker(7);
  worker.start();
  std::promise<std::string> name;
  boost::asio::post(worker.context(), [&name] {
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    name.set_value(buf);
  });
  CHECK(name.get_future().get() == "io-7");
  worker.stop();
}

TEST_CASE("threads: auto is one I/O thread per two cores, at least one") {
  CHECK(auto_threads_for(0) == 1);  // affinity unreadable and no hint: still one
  CHECK(auto_threads_for(1) == 1);
  CHECK(auto_threads_for(2) == 1);
  CHECK(auto_threads_for(3) == 1);
  CHECK(auto_threads_for(4) == 2);
  CHECK(auto_threads_for(16) == 8);
  CHECK(auto_threads() >= 1);
}
