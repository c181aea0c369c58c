// The narrow interface from the decoder to the sensor: semantic hooks, called synchronously from feed().
#pragma once

#include <string_view>

#include "proto/anomalies.hpp"
#include "proto/capabilities.hpp"
#include "proto/events.hpp"

namespace smtp::proto {

// Callbacks must not call back into the decoder. Views in the arguments die when the call returns.
struct DecoderCallbacks {
  virtual ~DecoderCallbacks() = default;

  // A client command line (never an AUTH response or message content).
  virtual void on_command(const Command&) = 0;
  // A complete (multi-line aware) reply. `paired` is the client line it answers in FIFO order; nullptr for
  // the greeting (Reply::greeting), for a reply with nothing pending (also an unmatched_reply anomaly)
  // and for replies owed to lines that arrived while the pending queue was full.
  virtual void on_reply(const Reply&, const Command* paired) = 0;
  // A DATA or BDAT transaction got its end-of-data reply; called right after that on_reply().
  virtual void on_message(const MessageInfo&) = 0;
  // An AUTH exchange ended (success, failure, unadvertised, aborted). Never carries a secret.
  virtual void on_auth(const AuthAttempt&) = 0;
  // The server accepted STARTTLS (220). Without Options::decode_after_starttls the rest is opaque.
  virtual void on_tls_started() = 0;
  virtual void on_anomaly(Anomaly, std::string_view detail) = 0;

  // Optional hooks.
  // Message content lines (dot-stuffing removed), only with Options::data_lines.
  virtual void on_data_line(std::string_view) {}
  // A client line inside an AUTH exchange. Its rendering is "[redacted]", or "*" for an abort.
  virtual void on_auth_response(const Command&) {}
  // The client finished DATA content (at the final ".") or one BDAT chunk: "<message data: N bytes>".
  virtual void on_content(const ContentInfo&) {}
  // A 2xx EHLO reply was parsed; also available from Decoder::capabilities().
  virtual void on_capabilities(const Capabilities&) {}
};

}  // namespace smtp::proto
