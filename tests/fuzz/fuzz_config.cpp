// libFuzzer target for the config loader: any text gives a Config or FILE:LINE:COL errors,
// never a crash or another exception, and a Config's effective YAML loads again to itself.
#include <netdb.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config_loader.hpp"

// No name lookups while fuzzing: a host name in an input is one that does not resolve, so a
// run depends on no resolver and waits on none. IP literals never reach getaddrinfo.
extern "C" int getaddrinfo(const char*, const char*, const struct addrinfo*, struct addrinfo** res) {
  *res = nullptr;
  return EAI_NONAME;
}

namespace {

using smtp::config::ConfigErrors;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_config: %s\n%s\n", what, detail.c_str());
  std::abort();
}

void check_errors(const ConfigErrors& e, const std::string& file) {
  if (e.errors().empty()) fail("ConfigErrors without an error", "");
  for (const auto& err : e.errors()) {
    if (err.file != file || err.line < 0 || err.column < 0 || err.message.empty()) fail("an error without its place", err.text());
    if (!std::string_view(err.text()).starts_with(file + ":")) fail("an error's text does not start with FILE:", err.text());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16384) return 0;  // a config is small; long inputs only slow the search
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string effective;
  try {
    effective = smtp::config::effective_yaml(smtp::config::parse_config(text, "fuzz.yaml"));
  } catch (const ConfigErrors& e) {
    check_errors(e, "fuzz.yaml");
    return 0;
  }
  try {
    const std::string again = smtp::config::effective_yaml(smtp::config::parse_config(effective, "effective.yaml"));
    if (again != effective) fail("the effective config changed on loading it again", effective + "\n---\n" + again);
  } catch (const ConfigErrors& e) {
    std::string all;
    for (const auto& err : e.errors()) all += err.text() + "\n";
    fail("the effective config does not load", effective + "\n---\n" + all);
  }
  return 0;
}
