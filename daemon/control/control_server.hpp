// The control socket (SPEC section 11): a Unix stream socket on the control thread that
// answers the line protocol of control_protocol.hpp; what a request does is the handler's.
#pragma once

#include "daemon/asio.hpp"
#include "daemon/control/control_protocol.hpp"

#include <boost/asio/local/stream_protocol.hpp>

#include <functional>
#include <memory>
#include <string>

namespace smtp::daemon::control {

// Answers one parsed request: the lines to send, the last one "ok" or "error: ...",
// each ending in '\n'. Runs on the control thread.
using Handler = std::function<std::string(const Request&)>;

class ControlServer {
 public:
  // Binds path (replacing a stale socket there), mode 0660, group smtp-sensor if that
  // group exists. Throws std::runtime_error on failure.
  ControlServer(asio::io_context& context, std::string path, Handler handler);
  ~ControlServer();
  void start();
  void stop();
  const std::string& path() const { return path_; }

 private:
  class Connection;
  void accept();
  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  Handler handler_;
  std::shared_ptr<std::size_t> open_ = std::make_shared<std::size_t>(0);
};

}  // namespace smtp::daemon::control
