// libFuzzer target for the decoder. Inputs starting with '#' are fixture transcripts (the seed corpus):
// they must give the same events fed whole, byte by byte and cut at one offset, or the run aborts.
// Other inputs are raw records: [header][length][bytes]..., header bit 0 = direction, 0x0e set = close.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fixture.hpp"
#include "recorder.hpp"

namespace {

using namespace smtp::proto;

std::vector<std::string> run_fixture(const fixture::Fixture& f, fixture::Cut cut, std::size_t step, std::size_t offset) {
  fixture::Recorder rec;
  Decoder d(rec, f.limits, f.options);
  fixture::feed(d, f, cut, step, offset);
  d.close(Dir::client_to_server);
  d.close(Dir::server_to_client);
  return rec.events;
}

void fuzz_fixture(std::string_view text) {
  auto f = fixture::parse(text);
  if (!f.error.empty() || f.steps.empty()) return;
  f.limits.max_line = std::min<std::size_t>(f.limits.max_line, 1 << 16);
  std::size_t total = 0;
  for (const auto& s : f.steps) total += s.bytes.size();
  const auto whole = run_fixture(f, fixture::Cut::whole, 0, 0);
  if (total <= 4096 && run_fixture(f, fixture::Cut::bytewise, 0, 0) != whole) std::abort();
  const std::size_t step = text.size() % f.steps.size();
  const std::size_t offset = f.steps[step].bytes.empty() ? 0 : (text.size() * 7919) % f.steps[step].bytes.size();
  if (run_fixture(f, fixture::Cut::at_offset, step, offset) != whole) std::abort();
}

void fuzz_raw(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return;
  Limits limits;
  limits.max_line = 1 + data[0] * 16u;
  limits.max_pending = 1 + (data[1] & 31u);
  Options options;
  options.data_lines = (data[1] & 32u) != 0;
  options.decode_after_starttls = (data[1] & 64u) != 0;
  fixture::Recorder rec;
  Decoder d(rec, limits, options);
  std::size_t i = 2;
  while (i + 1 < size) {
    const std::uint8_t header = data[i++];
    const Dir dir = (header & 1u) != 0 ? Dir::server_to_client : Dir::client_to_server;
    if ((header & 0x0eu) == 0x0eu) d.close(dir);
    const std::size_t want = data[i++];
    const std::size_t len = std::min(want, size - i);
    d.feed(dir, std::as_bytes(std::span(data + i, len)));
    i += len;
  }
  d.close(Dir::client_to_server);
  d.close(Dir::server_to_client);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 0 && data[0] == '#') fuzz_fixture(std::string_view(reinterpret_cast<const char*>(data), size));
  else fuzz_raw(data, size);
  return 0;
}
