// The command line: run, check-config, --version, --help, and the argument parsing the
// other commands (flags, fleet) share with them.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::daemon {

int run_cli(int argc, char** argv);

// The exit status of a usage error (the man page's EXIT STATUS).
inline constexpr int kUsageError = 2;

// An option that takes a value: its spellings (alias may be empty), what its value is
// for the error when it is missing ("-c needs a FILE"), and where the value goes.
struct ValueOption {
  std::string_view name, alias, needs;
  std::string* value;
};

// The outcome of parse_options: --help (or -h) was given, or the first usage error.
struct ParsedOptions {
  bool help = false;
  std::string error;  // empty: parsed
};

// Fills the options from args. A word that is no option goes to `words`, or is an error
// when words is null, as is an unknown option.
ParsedOptions parse_options(const std::vector<std::string_view>& args, std::initializer_list<ValueOption> options,
                            std::vector<std::string_view>* words = nullptr);

// "unexpected argument 'ARG'", with a hint when ARG looks like a config file given without -c.
std::string unexpected_argument(std::string_view arg);

// Prints "COMMAND: PROBLEM" and the usage to stderr; returns kUsageError.
int usage_error(std::string_view command, std::string_view problem, std::string_view usage);

}  // namespace smtp::daemon
