// A DecoderCallbacks that renders every event as one string, for comparing event streams in tests.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "proto/smtp_decoder.hpp"

namespace fixture {

// Printable ASCII stays; quotes, backslashes and everything else are escaped (\r \n \t \xHH).
inline std::string escape(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '\r') out += "\\r";
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (ch == '\\' || ch == '"') (out += '\\') += ch;
    else if (u < 0x20 || u >= 0x7f) ((out += "\\x") += hex[u >> 4]) += hex[u & 15];
    else out += ch;
  }
  return out;
}

// Builds one string from pieces. (Also sidesteps GCC 12's false -Wrestrict on "literal" + std::string&&.)
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  const auto add = [&out](const auto& p) {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(p)>>) out += std::to_string(p);
    else out += std::string_view(p);
  };
  (add(parts), ...);
  return out;
}

struct Recorder : smtp::proto::DecoderCallbacks {
  std::vector<std::string> events;
  std::string seen;  // every string the decoder handed out, to search for secrets

  void touch(std::string_view s) { (seen += s) += '\n'; }

  static std::string flags(const smtp::proto::Command& c) {
    std::string f;
    if (c.invalid) f += " invalid";
    if (c.over_long) f += " long";
    if (c.bare_lf) f += " bare_lf";
    if (c.bare_cr) f += " bare_cr";
    if (c.non_ascii) f += " non_ascii";
    return f;
  }

  static std::string describe(const smtp::proto::Command& c) {
    using namespace smtp::proto;
    std::string e = std::string(to_string(c.verb)) + " \"" + escape(c.rendering) + "\"";
    if (c.verb == Verb::mail || c.verb == Verb::rcpt) {
      if (!c.mail.valid) e += " badpath";
      if (c.mail.null_path) e += " null";
      if (!c.mail.address.empty()) e += " addr=" + escape(c.mail.address);
      if (!c.mail.domain.empty()) e += " domain=" + escape(c.mail.domain);
      if (c.mail.has_size) e += cat(" size=", c.mail.size);
      if (c.mail.body != Body::none) e += cat(" body=", to_string(c.mail.body));
      if (c.mail.smtputf8) e += " smtputf8";
    } else if (c.verb == Verb::auth) {
      e += cat(" mech=", to_string(c.auth_mechanism));
      if (c.auth_initial_response) e += " ir";
    } else if (c.verb == Verb::bdat) {
      e += c.bdat_valid ? cat(" bdat=", c.bdat_size) : std::string(" badbdat");
      if (c.bdat_last) e += " last";
    }
    return e + flags(c);
  }

  void on_command(const smtp::proto::Command& c) override {
    touch(c.rendering);
    touch(c.verb_text);
    touch(c.args);
    touch(c.mail.address);
    events.push_back("C " + describe(c));
  }

  void on_auth_response(const smtp::proto::Command& c) override {
    touch(c.rendering);
    events.push_back("C auth_response \"" + escape(c.rendering) + "\"" + flags(c));
  }

  void on_reply(const smtp::proto::Reply& r, const smtp::proto::Command* paired) override {
    using namespace smtp::proto;
    touch(r.text);
    std::string e = cat("S ", r.code);
    if (!r.enhanced.empty()) e += cat(" ", r.enhanced);
    e += cat(" ", to_string(r.stage));
    if (r.lines > 1) e += cat(" lines=", r.lines);
    if (r.greeting) e += " greeting";
    if (paired == nullptr) {
      if (!r.greeting) e += " to=none";
    } else {
      touch(paired->rendering);
      touch(paired->mail.address);
      if (paired->kind == LineKind::auth_response) e += " to=auth_response";
      else if (paired->kind == LineKind::end_of_data) e += " to=eod";
      else e += cat(" to=", to_string(paired->verb));
    }
    if (r.bad_command) e += " bad";
    if (r.permanent_failure()) e += " permfail";
    if (r.malformed) e += " malformed";
    if (r.truncated) e += " truncated";
    events.push_back(e);
  }

  void on_message(const smtp::proto::MessageInfo& m) override {
    using namespace smtp::proto;
    touch(m.sender);
    std::string e = cat("M ", to_string(m.via), " size=", m.size, " wire=", m.wire_bytes, " chunks=", m.chunks,
                        " code=", m.reply_code, m.accepted ? " accepted" : " rejected", " rcpts=", m.recipients);
    if (!m.sender.empty()) e += " sender=" + escape(m.sender);
    if (!m.sender_domain.empty()) e += " domain=" + escape(m.sender_domain);
    if (m.null_sender) e += " null_sender";
    if (m.smuggling) e += " smuggling";
    events.push_back(e);
  }

  void on_auth(const smtp::proto::AuthAttempt& a) override {
    using namespace smtp::proto;
    touch(a.username);
    touch(a.mechanism_name);
    std::string e = cat("A ", to_string(a.mechanism));
    if (!a.mechanism_name.empty()) e += cat(" name=", a.mechanism_name);
    e += cat(" user=\"", escape(a.username), "\" ", to_string(a.result), " code=", a.reply_code, " responses=",
             a.responses);
    if (a.advertised) e += " advertised";
    events.push_back(e);
  }

  void on_tls_started() override { events.emplace_back("TLS"); }

  void on_anomaly(smtp::proto::Anomaly a, std::string_view detail) override {
    touch(detail);
    events.push_back(cat("! ", smtp::proto::to_string(a), ": ", escape(detail)));
  }

  void on_data_line(std::string_view line) override {
    touch(line);
    events.push_back("L \"" + escape(line) + "\"");
  }

  void on_content(const smtp::proto::ContentInfo& c) override {
    events.push_back(cat("D ", smtp::proto::to_string(c.via), " bytes=", c.bytes, " wire=", c.wire_bytes,
                         c.last ? " last" : ""));
  }

  void on_capabilities(const smtp::proto::Capabilities& c) override {
    using namespace smtp::proto;
    std::string e = "CAPS";
    if (c.pipelining) e += " PIPELINING";
    if (c.chunking) e += " CHUNKING";
    if (c.starttls) e += " STARTTLS";
    if (c.smtputf8) e += " SMTPUTF8";
    if (c.eight_bit_mime) e += " 8BITMIME";
    if (c.binary_mime) e += " BINARYMIME";
    if (c.dsn) e += " DSN";
    if (c.enhanced_status_codes) e += " ENHANCEDSTATUSCODES";
    if (c.has_size) e += cat(" SIZE=", c.size);
    if (c.auth) {
      e += " AUTH";
      for (const auto m : {AuthMechanism::plain, AuthMechanism::login, AuthMechanism::cram_md5, AuthMechanism::xoauth2,
                           AuthMechanism::other})
        if (c.offers(m)) e += cat(" ", to_string(m));
    }
    events.push_back(e);
  }
};

}  // namespace fixture
