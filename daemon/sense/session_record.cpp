#include "daemon/sense/session_record.hpp"

#include "text/json.hpp"

#include <fmt/format.h>

namespace smtp::daemon {
namespace {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

store::SessionRecord make_record(const SessionFacts& f, std::string domain, std::string_view user, Termination reason,
                                 std::chrono::system_clock::time_point ended) {
  store::SessionRecord r;
  r.lcid = f.lcid;
  r.start_ms = unix_ms(f.started);
  r.end_ms = unix_ms(ended);
  r.listener = f.listener;
  r.client_ip = ip_text(f.client);
  r.client_port = f.client.port();
  r.upstream = f.upstream;
  r.helo = f.helo;
  r.tls = f.tls;
  r.tls_version = f.tls_version;
  r.tls_cipher = f.tls_cipher;
  r.auth_user = f.auth_user;
  r.auth_result = f.auth_result;
  r.domain = std::move(domain);
  r.outbound = f.outbound;
  r.user = user;
  r.messages = f.messages;
  r.recipients = f.recipients;
  r.commands = f.commands;
  r.bad_commands = f.bad_commands;
  r.permanent_failures = f.permanent_failures;
  r.termination = to_string(reason);
  r.blocked = reason == Termination::blocked;
  r.bytes_in = f.bytes_in;
  r.bytes_out = f.bytes_out;
  r.transcript_file = f.transcript_file;
  r.transcript_offset = f.transcript_offset;
  return r;
}

void append_session_json(std::string& out, const SessionFacts& f) {
  using text::append_json_string;
  out += fmt::format("{{\"lcid\":{},\"client\":", f.lcid);
  append_json_string(out, endpoint_text(f.client));
  const std::string started = text::iso8601_utc(f.started);
  for (const auto& [key, value] : {std::pair<const char*, std::string_view>{"listener", f.listener},
                                   {"started", started},
                                   {"state", f.state},
                                   {"helo", f.helo},
                                   {"auth_user", f.auth_user},
                                   {"tls_version", f.tls_version},
                                   {"tls_cipher", f.tls_cipher}}) {
    out += ",\"";
    out += key;
    out += "\":";
    append_json_string(out, value);
  }
  out += fmt::format(",\"tls\":{},\"commands\":{},\"bad_commands\":{},\"messages\":{},\"bytes_in\":{},\"bytes_out\":{}}}",
                     f.tls ? "true" : "false", f.commands, f.bad_commands, f.messages, f.bytes_in, f.bytes_out);
}

}  // namespace smtp::daemon
