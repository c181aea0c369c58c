// Fixture transcripts for decoder tests: the text format, its parser and the feeding strategies.
//
// Format, one directive a line:
//   # comment
//   C: text      client line, CRLF appended       C| text   client bytes, nothing appended
//   S: text      server line, CRLF appended       S| text   server bytes, nothing appended
//                (one space after ':' or '|' is syntax; write \x20 for a leading space)
//   ---          ends the current read (consecutive C or S lines otherwise form one read)
//   X: client    close(client_to_server)          X: server   close(server_to_client)
//   = event      the next expected event, as Recorder renders it
//   ! max_line N | ! max_pending N | ! data_lines | ! decode_after_starttls | ! secret TEXT
// Escapes in C/S text: \r \n \t \0 \\ \xHH.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/smtp_decoder.hpp"

namespace fixture {

struct Step {
  bool close = false;
  smtp::proto::Dir dir = smtp::proto::Dir::client_to_server;
  std::string bytes;
};

struct Fixture {
  std::vector<Step> steps;
  std::vector<std::string> expected;
  std::vector<std::string> secrets;  // must appear in no event, rendering, username or detail
  smtp::proto::Limits limits;
  smtp::proto::Options options;
  std::string error;  // non-empty when the text did not parse
};

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Never throws: the fuzzer feeds this parser arbitrary text. Capped so a test cannot ask for gigabytes.
inline std::size_t to_size(std::string_view s) {
  std::size_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') break;
    v = v * 10 + static_cast<std::size_t>(c - '0');
    if (v > (1u << 20)) return 1u << 20;
  }
  return v;
}

inline bool unescape(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out.push_back(in[i]);
      continue;
    }
    if (++i >= in.size()) return false;
    switch (in[i]) {
      case 'r': out.push_back('\r'); break;
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case '0': out.push_back('\0'); break;
      case '\\': out.push_back('\\'); break;
      case 'x': {
        if (i + 2 >= in.size()) return false;
        const int hi = hex_value(in[i + 1]);
        const int lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default: return false;
    }
  }
  return true;
}

inline Fixture parse(std::string_view text) {
  Fixture f;
  bool open = false;  // the last step is a read that further lines of its direction extend
  std::size_t lineno = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto fail = [&](std::string_view why) {
      f.error = "line " + std::to_string(lineno) + ": " + std::string(why);
    };
    if (line.empty() || line[0] == '#') continue;
    if (line == "---") {
      open = false;
    } else if (line.rfind("= ", 0) == 0) {
      f.expected.emplace_back(line.substr(2));
    } else if (line.rfind("! ", 0) == 0) {
      const auto opt = line.substr(2);
      if (opt.rfind("max_line ", 0) == 0) f.limits.max_line = to_size(opt.substr(9));
      else if (opt.rfind("max_pending ", 0) == 0) f.limits.max_pending = to_size(opt.substr(12));
      else if (opt == "data_lines") f.options.data_lines = true;
      else if (opt == "decode_after_starttls") f.options.decode_after_starttls = true;
      else if (opt.rfind("secret ", 0) == 0) f.secrets.emplace_back(opt.substr(7));
      else fail("unknown option");
    } else if (line == "X: client" || line == "X: server") {
      Step s;
      s.close = true;
      s.dir = line[3] == 'c' ? smtp::proto::Dir::client_to_server : smtp::proto::Dir::server_to_client;
      f.steps.push_back(s);
      open = false;
    } else if (line.size() >= 2 && (line[0] == 'C' || line[0] == 'S') && (line[1] == ':' || line[1] == '|')) {
      const auto dir = line[0] == 'C' ? smtp::proto::Dir::client_to_server : smtp::proto::Dir::server_to_client;
      std::string_view payload = line.substr(2);
      if (!payload.empty() && payload[0] == ' ') payload.remove_prefix(1);
      std::string bytes;
      if (!unescape(payload, bytes)) fail("bad escape");
      if (line[1] == ':') bytes += "\r\n";
      if (!open || f.steps.back().dir != dir) {
        f.steps.push_back(Step{false, dir, {}});
        open = true;
      }
      f.steps.back().bytes += bytes;
    } else {
      fail("unknown directive");
    }
    if (!f.error.empty()) return f;
  }
  return f;
}

// How each read is cut before it reaches the decoder.
enum class Cut { whole, bytewise, at_offset };

inline void feed(smtp::proto::Decoder& d, const Fixture& f, Cut cut, std::size_t step_index = 0,
                 std::size_t offset = 0) {
  for (std::size_t i = 0; i < f.steps.size(); ++i) {
    const Step& s = f.steps[i];
    if (s.close) {
      d.close(s.dir);
      continue;
    }
    const auto* p = reinterpret_cast<const std::byte*>(s.bytes.data());
    const std::span<const std::byte> all(p, s.bytes.size());
    if (cut == Cut::bytewise) {
      for (std::size_t k = 0; k < all.size(); ++k) d.feed(s.dir, all.subspan(k, 1));
    } else if (cut == Cut::at_offset && i == step_index && offset > 0 && offset < all.size()) {
      d.feed(s.dir, all.first(offset));
      d.feed(s.dir, all.subspan(offset));
    } else {
      d.feed(s.dir, all);
    }
  }
}

}  // namespace fixture
