// Loads and validates the YAML config; every problem is reported as FILE:LINE:COL.
#pragma once

#include "config/config.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::config {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (unreadable file)
  int column = 0;  // 1-based
  std::string message;
  std::string text() const;  // "FILE:LINE:COL: message"
};

// Thrown with every error found, not just the first, so an operator fixes them in one go.
class ConfigErrors : public std::runtime_error {
 public:
  explicit ConfigErrors(std::vector<ConfigError> errors);
  const std::vector<ConfigError>& errors() const { return errors_; }

 private:
  std::vector<ConfigError> errors_;
};

Config load_config_file(const std::string& path);
Config parse_config(std::string_view yaml, const std::string& file_name);

// The effective config, defaults filled in, as YAML that load_config_file accepts again.
std::string effective_yaml(const Config& config);

}  // namespace smtp::config
