// Every fixture transcript yields its expected events fed whole, one byte at a time, and cut at every offset.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fixture.hpp"
#include "recorder.hpp"

namespace {

std::vector<std::string> run(const fixture::Fixture& f, fixture::Cut cut, std::size_t step = 0, std::size_t offset = 0,
                             std::string* seen = nullptr) {
  fixture::Recorder rec;
  smtp::proto::Decoder d(rec, f.limits, f.options);
  fixture::feed(d, f, cut, step, offset);
  if (seen != nullptr) *seen = rec.seen;
  return rec.events;
}

std::string diff(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  std::ostringstream out;
  std::size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  out << "first difference at event " << i << "\n  want: " << (i < want.size() ? want[i] : "<end>")
      << "\n  got:  " << (i < got.size() ? got[i] : "<end>") << "\nall events got:\n";
  for (const auto& e : got) out << "= " << e << "\n";
  return out.str();
}

std::vector<std::filesystem::path> fixture_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(PROTO_FIXTURE_DIR))
    if (entry.path().extension() == ".txt") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

fixture::Fixture load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return fixture::parse(ss.str());
}

}  // namespace

TEST_CASE("fixtures: expected events, whole, byte by byte and cut at every offset") {
  const auto files = fixture_files();
  REQUIRE(files.size() >= 20);
  for (const auto& path : files) {
    const auto name = path.filename().string();
    CAPTURE(name);
    const auto f = load(path);
    REQUIRE_MESSAGE(f.error.empty(), f.error);
    REQUIRE(!f.expected.empty());

    std::string seen;
    const auto whole = run(f, fixture::Cut::whole, 0, 0, &seen);
    CHECK_MESSAGE(whole == f.expected, diff(f.expected, whole));
    for (const auto& secret : f.secrets) CHECK_MESSAGE(seen.find(secret) == std::string::npos, "leaked: " << secret);

    const auto bytewise = run(f, fixture::Cut::bytewise);
    CHECK_MESSAGE(bytewise == whole, diff(whole, bytewise));

    bool all_offsets_agree = true;
    for (std::size_t i = 0; i < f.steps.size() && all_offsets_agree; ++i) {
      for (std::size_t off = 1; off < f.steps[i].bytes.size(); ++off) {
        const auto cut = run(f, fixture::Cut::at_offset, i, off);
        if (cut != whole) {
          all_offsets_agree = false;
          FAIL_CHECK("read " << i << " cut at " << off << ": " << diff(whole, cut));
          break;
        }
      }
    }
    CHECK(all_offsets_agree);
  }
}

TEST_CASE("fixtures: the Xeams seed conversation is among them") {
  const auto f = load(std::filesystem::path(PROTO_FIXTURE_DIR) / "xeams_auth_login_unadvertised.txt");
  REQUIRE(f.error.empty());
  const auto events = run(f, fixture::Cut::whole);
  CHECK(std::find(events.begin(), events.end(), "A LOGIN name=LOGIN user=\"\" unadvertised code=500 responses=0") !=
        events.end());
}
