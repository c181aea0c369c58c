// One SMTP session's decoder: the bytes of both directions in, semantic events out; it never alters traffic.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proto/anomalies.hpp"
#include "proto/auth_tracker.hpp"
#include "proto/capabilities.hpp"
#include "proto/data_scanner.hpp"
#include "proto/decoder_callbacks.hpp"
#include "proto/events.hpp"
#include "proto/line_framer.hpp"
#include "proto/pending_queue.hpp"
#include "proto/reply_parser.hpp"
#include "proto/smtp_verbs.hpp"

namespace smtp::proto {

struct DecoderStats {
  std::uint64_t client_bytes = 0;   // everything fed, per direction
  std::uint64_t server_bytes = 0;
  std::uint64_t client_opaque = 0;  // fed after TLS started or sniffing stopped: counted, not decoded
  std::uint64_t server_opaque = 0;
  std::uint64_t client_lines = 0;   // command and AUTH response lines
  std::uint64_t server_lines = 0;   // reply lines
};

class Decoder {
 public:
  Decoder(DecoderCallbacks& callbacks, Limits limits, Options options = {});
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes a copy of what the relay read, before the relay forwards it. Synchronous, bounded memory,
  // never throws (an exception from a callback stops sniffing). Callbacks must not re-enter the decoder.
  void feed(Dir dir, std::span<const std::byte> bytes) noexcept;
  // That direction hit EOF. After close(server_to_client) an open AUTH exchange is reported aborted.
  void close(Dir dir) noexcept;

  bool sniffing() const noexcept { return sniffing_; }  // false once decoding gave up; relaying goes on
  bool tls() const noexcept { return tls_; }            // STARTTLS got its 220
  // For a relay that terminates TLS itself (Options::decode_after_starttls) and so must cut
  // both streams exactly where TLS begins:
  // - true from the client's STARTTLS line until the server's reply to it;
  //   (also when so much followed the STARTTLS that the decoder stopped holding it);
  //   false again if decoding gives up, so that a relay waiting on it never waits forever;
  bool awaiting_starttls() const noexcept {
    return sniffing_ && (gate_ == Gate::starttls || assumed_ == Gate::starttls);
  }
  // - the bytes of the last client chunk that came after that STARTTLS line (pipelined
  //   plaintext that must not reach the upstream before its reply: CVE-2011-0411);
  std::size_t starttls_tail() const noexcept { return starttls_tail_; }
  // - the bytes of the last server chunk after the 220 that started TLS: plaintext the
  //   server sent where only a handshake may come. They are not decoded, and neither is
  //   anything else the server sends before the client's first bytes inside TLS (the
  //   client speaks first there: RFC 3207), however the bytes were cut into reads.
  std::size_t tls_server_tail() const noexcept { return tls_server_tail_; }
  bool greeted() const noexcept { return greeted_; }
  bool quit_acknowledged() const noexcept { return quit_acked_; }  // QUIT got 2xx: a graceful end
  const Capabilities& capabilities() const noexcept { return caps_; }
  std::string_view helo() const noexcept { return helo_; }  // name from the last EHLO/HELO, max 255 bytes
  std::size_t pending() const noexcept { return queue_.size(); }
  const DecoderStats& stats() const noexcept { return stats_; }

 private:
  enum class ClientMode : std::uint8_t { lines, data, bdat, hold, opaque };
  // A command whose reply decides how the client's following bytes read: they wait in hold_ meanwhile.
  enum class Gate : std::uint8_t { none, data, bdat, starttls };
  enum Flag : std::uint8_t { f_over_long = 1, f_bare_lf = 2, f_bare_cr = 4, f_non_ascii = 8, f_invalid = 16,
                             f_smuggling = 32 };

  // smtp_decoder.cpp: plumbing, gates, shutdown
  void anomaly(Anomaly kind, std::string_view detail);
  void line_anomalies(const Line& line, std::string_view who);
  void desync(std::string_view reason);
  void stop(std::string_view reason) noexcept;
  void settle() noexcept;
  void release_all() noexcept;
  std::uint32_t push(LineKind kind, Verb verb, std::uint8_t flags, std::uint64_t length, std::uint64_t size,
                     std::string_view text);
  void start_gate(Gate gate, std::uint32_t seq, const Command& c);
  void assume_gate();
  void open_gate(bool accepted);
  void replay();

  // decoder_client.cpp: the client direction
  void client_bytes(std::string_view in);
  void client_line(const Line& line);
  void auth_line(const Line& line);
  void after_command(const Command& c, std::uint32_t seq, std::string_view line);
  std::string_view render_auth(std::string_view line, const Command& c);
  std::string_view hold_bytes(std::string_view in);
  std::string_view data_bytes(std::string_view in);
  std::string_view bdat_bytes(std::string_view in);
  void start_chunk(std::uint64_t size, bool last);
  void finish_chunk();
  void finish_data();
  void content_lines(std::string_view bytes, bool unstuff);
  void reset_client_transaction() noexcept;

  // decoder_server.cpp: the server direction and pairing
  void server_bytes(std::string_view in);
  void server_line(const Line& line);
  void handle_reply(Reply& r);
  void apply_reply(const PendingQueue::Entry& e, const Command& c, const Reply& r);
  void finish_message(Transfer via, std::uint64_t size, std::uint64_t wire, std::uint32_t chunks, const Reply& r,
                      bool smuggling);
  void auth_reply(const Reply& r, std::uint32_t seq, bool to_command, bool to_abort_line);
  void start_tls();
  void end_data_at_lookalike(Reply& r);
  void reset_transaction() noexcept;

  DecoderCallbacks& cb_;
  Limits limits_;
  Options options_;
  DecoderStats stats_;

  LineFramer client_framer_;
  LineFramer server_framer_;
  LineFramer content_framer_;  // only with Options::data_lines
  ReplyAssembler assembler_;
  PendingQueue queue_;
  DataScanner scanner_;
  AuthTracker auth_;
  Capabilities caps_;
  std::string helo_;
  std::string hold_;  // client bytes behind a gate; allocated only when a client pipelines past one
  std::size_t starttls_tail_ = 0;
  std::size_t tls_server_tail_ = 0;
  bool server_muted_ = false;  // after a terminated STARTTLS, until the client speaks in TLS

  // Server-side view of the mail transaction, for MessageInfo.
  struct Transaction {
    std::string sender;
    std::uint64_t bdat_bytes = 0;
    std::uint32_t rcpts = 0;
    std::uint32_t chunks = 0;
    bool has_sender = false;
    bool null_sender = false;
  } txn_;

  // Client-side state.
  std::uint64_t bdat_remaining_ = 0;
  std::uint64_t bdat_chunk_ = 0;
  std::uint64_t declared_size_ = 0;  // SIZE= of the last MAIL
  std::uint64_t bdat_total_ = 0;     // BDAT bytes announced in this transaction
  std::uint64_t gate_bdat_size_ = 0;
  std::uint32_t gate_seq_ = 0;
  std::uint32_t assumed_seq_ = 0;
  ClientMode cmode_ = ClientMode::lines;
  Gate gate_ = Gate::none;
  Gate assumed_ = Gate::none;  // a gate whose hold overflowed: its opening was assumed, the reply must agree
  bool gate_told_ = false;
  bool gate_bdat_last_ = false;
  bool bdat_last_ = false;
  bool after_bdat_ = false;
  bool bdat_overrun_told_ = false;
  bool smuggling_told_ = false;
  bool client_smtputf8_ = false;
  bool pregreet_told_ = false;
  bool overflow_told_ = false;
  std::array<char, 48> render_{};  // "AUTH PLAIN [redacted]"

  // Server-side state.
  std::uint32_t desync_ = 0;  // consecutive replies that paired with nothing or were not replies
  bool greeted_ = false;
  bool server_opaque_ = false;
  bool tls_ = false;
  bool quit_acked_ = false;
  bool sniffing_ = true;
  bool client_closed_ = false;
  bool server_closed_ = false;
};

}  // namespace smtp::proto
