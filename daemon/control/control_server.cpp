#include "daemon/control/control_server.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <filesystem>
#include <stdexcept>

namespace smtp::daemon::control {

using local = asio::local::stream_protocol;

class ControlServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ControlServer& server, local::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(socket_.get_executor()), open_(server.open_) {
    ++*open_;
  }
  ~Connection() { --*open_; }

  void start() { read(); }

  void refuse_busy() {
    auto self = shared_from_this();
    out_ = "error: busy: too many control connections\n";
    asio::async_write(socket_, asio::buffer(out_), [self](const error_code&, std::size_t) { self->close(); });
  }

 private:
  void read() {
    timer_.expires_after(kIdleTimeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->close();  // idle too long
    });
    asio::async_read_until(socket_, in_, '\n', [self = shared_from_this()](const error_code& ec, std::size_t n) {
      self->timer_.cancel();
      if (ec == asio::error::not_found) {
        // Past kMaxLine with no newline: answer and hang up, since the stream cannot be resynced.
        self->out_ = "error: request longer than " + std::to_string(kMaxLine) + " bytes\n";
        return self->write(true);
      }
      if (ec) return self->close();
      std::string line(asio::buffers_begin(self->in_.data()), asio::buffers_begin(self->in_.data()) + static_cast<std::ptrdiff_t>(n));
      self->in_.consume(n);
      self->answer(line);
    });
  }

  void answer(const std::string& line) {
    const bool last = ++requests_ >= kMaxRequests;
    auto parsed = parse_request(line);
    if (auto* e = std::get_if<ParseError>(&parsed)) {
      out_ = "error: " + e->message + "\n";
      return write(last);
    }
    const auto& req = std::get<Request>(parsed);
    if (req.verb == Verb::quit) {
      out_ = "ok\n";
      return write(true);
    }
    if (req.verb == Verb::help) {
      out_ = std::string(help_text()) + "ok\n";
      return write(last);
    }
    try {
      out_ = server_.handler_(req);
    } catch (const std::exception& ex) {
      out_ = std::string("error: ") + ex.what() + "\n";
    }
    write(last);
  }

  void write(bool then_close) {
    timer_.expires_after(kIdleTimeout);  // a client that never reads is closed too
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->close();
    });
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this(), then_close](const error_code& ec, std::size_t) {
      self->timer_.cancel();
      if (ec || then_close) return self->close();
      self->read();
    });
  }

  void close() {
    error_code ignored;
    socket_.shutdown(local::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

  ControlServer& server_;
  local::socket socket_;
  asio::steady_timer timer_;
  asio::streambuf in_{kMaxLine};
  std::string out_;
  std::size_t requests_ = 0;
  std::shared_ptr<std::size_t> open_;
};

ControlServer::ControlServer(asio::io_context& context, std::string path, Handler handler)
    : acceptor_(context), path_(std::move(path)), handler_(std::move(handler)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto dir = fs::path(path_).parent_path();
  if (!dir.empty()) fs::create_directories(dir, ec);
  // A socket left by a daemon that died is replaced; anything else at the path is not ours.
  if (fs::is_socket(fs::symlink_status(path_, ec))) fs::remove(path_, ec);
  try {
    acceptor_.open(local());
    acceptor_.bind(local::endpoint(path_));
    acceptor_.listen();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on control.socket " + path_ + ": " + e.what());
  }
  if (::chmod(path_.c_str(), 0660) != 0) throw std::runtime_error("cannot chmod control.socket " + path_);
  if (const group* g = ::getgrnam("smtp-sensor")) {
    if (::chown(path_.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
      // Not fatal: root and the daemon's own user still reach it.
    }
  }
}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() { accept(); }

void ControlServer::stop() {
  if (!acceptor_.is_open()) return;
  error_code ignored;
  acceptor_.close(ignored);
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void ControlServer::accept() {
  acceptor_.async_accept([this](const error_code& ec, local::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      auto c = std::make_shared<Connection>(*this, std::move(socket));
      if (*open_ > kMaxConnections) c->refuse_busy();
      else c->start();
    }
    if (ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system) {
      auto timer = std::make_shared<asio::steady_timer>(acceptor_.get_executor(), std::chrono::milliseconds(100));
      return timer->async_wait([this, timer](const error_code&) { accept(); });
    }
    accept();
  });
}

}  // namespace smtp::daemon::control
