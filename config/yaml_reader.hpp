// Reads typed values out of YAML nodes, collecting each mistake as a FILE:LINE:COL error.
#pragma once

#include "config/cidr.hpp"
#include "config/config.hpp"
#include "config/config_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtp::config {

// "HOST:PORT" or "[IPv6]:PORT" split into host and port text; empty when neither form.
std::optional<std::pair<std::string, std::string_view>> split_host_port(std::string_view s);
std::optional<std::uint16_t> port_number(std::string_view port);
bool ip_literal(const std::string& host);

// Every reader method checks one value and, when it is wrong, records an error at the
// node's line and column and leaves `out` as it was (the default): the loader reports all
// mistakes of a file at once.
class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Mark& m, std::string message);
  std::vector<ConfigError>& errors() { return errors_; }

  // Visits each key of a mapping, rejecting unknown keys with a suggestion.
  template <class KeyList, class F>
  void map_of(const YAML::Node& node, std::string_view where, const KeyList& keys, F&& visit) {
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) return error(node.Mark(), std::string(where) + ": expected a mapping");
    SeenKeys seen;
    for (const auto& kv : node) {
      const auto key = kv.first.Scalar();
      if (std::find(std::begin(keys), std::end(keys), key) == std::end(keys)) {
        unknown(kv.first.Mark(), where, key, keys);
        continue;
      }
      if (once(seen, kv.first, where)) visit(key, kv.second);
    }
  }

  // YAML forbids a key twice in one mapping, but yaml-cpp keeps both and its lookups find
  // the first. Every mapping the loader walks asks once() for each key, which records
  // "key 'x' given twice in where (first on line N)" at a repeat and answers false: no
  // value silently wins (a second `listeners:` used to drop the first's listeners).
  using SeenKeys = std::vector<std::pair<std::string, int>>;  // key, its line (0-based)
  bool once(SeenKeys& seen, const YAML::Node& key, std::string_view where);

  // "unknown key 'x' in where; did you mean 'y'?" (a known key at most 2 edits away).
  template <class KeyList>
  void unknown(const YAML::Mark& m, std::string_view where, const std::string& key, const KeyList& keys) {
    unknown_key(m, where, key, std::vector<std::string_view>(std::begin(keys), std::end(keys)));
  }

  bool scalar(const YAML::Node& n, std::string_view what, std::string& out);
  void string(const YAML::Node& n, std::string_view what, std::string& out);
  void boolean(const YAML::Node& n, std::string_view what, bool& out);

  template <class Int>
  void integer(const YAML::Node& n, std::string_view what, Int& out, std::uint64_t min, std::uint64_t max) {
    std::string s;
    if (!scalar(n, what, s)) return;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size())
      return error(n.Mark(), std::string(what) + ": expected a whole number, got '" + s + "'");
    if (v < min || v > max)
      return error(n.Mark(), std::string(what) + ": must be between " + std::to_string(min) + " and " +
                                 std::to_string(max) + ", got " + s);
    out = static_cast<Int>(v);
  }

  void real(const YAML::Node& n, std::string_view what, double& out);
  void duration(const YAML::Node& n, std::string_view what, Duration& out, bool allow_zero = false);
  void size(const YAML::Node& n, std::string_view what, std::uint64_t& out);

  // One of the enum's words (config.hpp's words()).
  template <Worded E>
  void choice(const YAML::Node& n, std::string_view what, E& out) {
    std::string s;
    if (!scalar(n, what, s)) return;
    std::string names;
    for (const auto& [name, value] : words(out)) {
      if (s == name) {
        out = value;
        return;
      }
      names += (names.empty() ? "" : " | ") + std::string(name);
    }
    error(n.Mark(), std::string(what) + ": expected " + names + ", got '" + s + "'");
  }

  void cidrs(const YAML::Node& n, std::string_view what, std::vector<Cidr>& out);
  // "1.2.3.4:25", "[::1]:25"; with resolve, a host name is looked up once, here.
  void host_port(const YAML::Node& n, std::string_view what, HostPort& out, bool resolve);

 private:
  void unknown_key(const YAML::Mark& m, std::string_view where, const std::string& key,
                   const std::vector<std::string_view>& keys);

  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace smtp::config
