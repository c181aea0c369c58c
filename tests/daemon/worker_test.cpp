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
// worker it picks, so an accept pending in one context holds on to another, where its
// socket is made once a connection is there.
TEST_CASE("a pending accept for another worker is dropped while both contexts still exist") {
  auto target = std::make_unique<Worker>(0);
  auto home = std::make_unique<Worker>(1);
  auto acceptor = std::make_unique<NonBlockingAcceptor>(home->context(), tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  bool called = false;
  tcp::endpoint peer;
  acceptor->async_accept_non_blocking([&target]() -> boost::asio::io_context& { return target->context(); }, peer,
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

TEST_CASE("pick_worker packs sessions on the listener's own worker, then spreads them to the least loaded") {
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < 3; ++i) workers.push_back(std::make_unique<Worker>(i));
  Worker& home = *workers[1];
  const auto take = [&](unsigned n) {
    std::vector<unsigned> where;
    for (unsigned i = 0; i < n; ++i) {
      Worker& w = pick_worker(home, workers, 4);
      w.took_session();
      for (unsigned k = 0; k < workers.size(); ++k)
        if (workers[k].get() == &w) where.push_back(k);
    }
    return where;
  };
  CHECK(take(4) == std::vector<unsigned>{1, 1, 1, 1});  // a quiet sensor: one thread
  // Full: the least loaded takes the next, so the others fill up in turn; when all hold
  // as many, home again.
  CHECK(take(9) == std::vector<unsigned>{0, 2, 0, 2, 0, 2, 0, 2, 1});
  // Sessions that end free their worker: home takes the next ones while under the mark.
  for (int i = 0; i < 3; ++i) home.session_gone();
  CHECK(home.load() == 2);
  CHECK(take(2) == std::vector<unsigned>{1, 1});
  CHECK(take(1) == std::vector<unsigned>{1});  // all at 4: a tie stays home
  CHECK(auto_threads() >= 1);
}

TEST_CASE("pick_worker spreads a TLS listener's sessions from the second on") {
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < 2; ++i) workers.push_back(std::make_unique<Worker>(i));
  Worker& home = *workers[1];
  std::vector<unsigned> where;
  for (unsigned i = 0; i < 5; ++i) {
    Worker& w = pick_worker(home, workers, kPackTlsSessions);
    w.took_session();
    where.push_back(&w == &home ? 1 : 0);
  }
  CHECK(where == std::vector<unsigned>{1, 0, 1, 0, 1});
}
