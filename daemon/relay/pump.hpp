// One direction of a relayed session: read what arrives, show it to the watcher, write it on.
#pragma once

#include "daemon/session_types.hpp"
#include "daemon/relay/stream.hpp"

#include <cstddef>
#include <memory>
#include <span>

namespace smtp::daemon {

class RelaySession;

// Backpressure is end to end: while bytes wait to be written, the pump does not read,
// so the kernel's buffers fill and TCP flow control slows the sender. A pump holds at
// most one read's worth of bytes (kScratchSize), and nothing at all while idle.
class Pump {
 public:
  // 32 KB, not 64: a 1 MB body cost the sensor a quarter more CPU through a 64 KB buffer (a
  // third more under TLS); likely as 64 KB read, scanned and written again outgrows a 48 KB L1
  // data cache (bench/README.md, "Issue 20, sixth pass"). HAProxy's buffers are 16 KB.
  static constexpr std::size_t kScratchSize = 32 * 1024;

  Pump(RelaySession& session, Stream& from, Stream& to, Dir dir) : session_(session), from_(from), to_(to), dir_(dir) {}

  // Bytes to send before anything read (a PROXY header, or bytes read while the
  // session was still setting up).
  void prime(std::span<const char> bytes);
  void start();
  bool finished() const { return finished_; }

  // Stops reading once the bytes in hand are written on, while the session switches the
  // streams to TLS; the session hears on_pump_drained() when nothing is left to write.
  void pause() { paused_ = true; }
  void resume();
  // Resumes by reading at once what is already there (an upstream's banner usually is,
  // by the time its connect completes) instead of through a completion that Asio queues
  // behind a trip through epoll. Only outside every pump's handler: the bytes go through
  // the thread's scratch buffer, which a pump on the stack may be holding.
  void resume_now();

 private:
  // `drained`: a read of the calling handler found the socket empty; `sure`: nothing, not
  // even a FIN, can be behind it (see read_on).
  void wait_readable(bool drained = false, bool sure = false);
  void on_readable(const error_code& ec, Readiness readiness);
  // Reads into the scratch buffer and hands each read to the session and the peer, a few
  // times while the reads fill it. `readiness`: what the wait that led here learned.
  void read_on(Readiness readiness);
  // false: the write failed and the session closed. `then_watch`: the decoder sees the
  // bytes right after the write.
  bool forward(std::span<const char> bytes, bool then_watch = false);
  void flush();
  void on_writable(const error_code& ec);
  void keep(std::span<const char> rest);
  void end_of_input();

  RelaySession& session_;
  Stream& from_;
  Stream& to_;
  Dir dir_;
  std::unique_ptr<char[]> pending_;
  std::size_t pending_offset_ = 0;
  std::size_t pending_size_ = 0;
  bool eof_ = false;
  bool finished_ = false;
  bool paused_ = false;
};

}  // namespace smtp::daemon
