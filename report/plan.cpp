#include "report/plan.hpp"

namespace smtp::report {
namespace {

// The unit boundary nearest to ms; on a tie (a local hour that starts at :30 UTC), the
// one inside the period, so that the half units are read as quarter hours instead of
// a whole unit less two quarters.
std::int64_t nearest(store::Level level, std::int64_t ms, bool period_start) {
  const std::int64_t lo = store::unit_start(level, store::floor_seconds(ms)) * 1000;
  if (lo == ms) return lo;
  const std::int64_t hi = store::next_unit(level, lo / 1000) * 1000;
  if (ms - lo == hi - ms) return period_start ? hi : lo;
  return ms - lo < hi - ms ? lo : hi;
}

}  // namespace

void Plan::add(std::int64_t a, std::int64_t b, Ref ref, std::size_t depth) {
  if (a >= b) return;
  if (depth == chain_.size()) return spans_[{a, b}].push_back(ref);
  const Level level = chain_[depth];
  const std::int64_t a2 = nearest(level, a, true), b2 = nearest(level, b, false);
  if (a2 >= b2) return add(a, b, ref, depth + 1);
  for (std::int64_t u = a2; u < b2;) {
    const std::int64_t next = store::next_unit(level, u / 1000) * 1000;
    if (available_(level, u / 1000)) units_[level][u / 1000].push_back(ref);
    else add(u, next, ref, depth + 1);
    u = next;
  }
  const Ref neg{ref.period, -ref.sign};
  if (a < a2) add(a, a2, ref, depth + 1);
  else add(a2, a, neg, depth + 1);
  if (b2 < b) add(b2, b, ref, depth + 1);
  else add(b, b2, neg, depth + 1);
}

std::vector<Plan::Reads> Plan::per_period(std::size_t periods) const {
  std::vector<Reads> out(periods);
  auto settle = [](const std::vector<Ref>& refs, auto&& emit) {
    std::map<std::uint32_t, int> sum;
    for (const auto& r : refs) sum[r.period] += r.sign;
    for (const auto& [p, s] : sum)
      if (s != 0) emit(p, s);
  };
  for (const auto& [level, units] : units_)
    for (const auto& [start, refs] : units)
      settle(refs, [&](std::uint32_t p, int s) { out[p].units.push_back({level, start, s}); });
  for (const auto& [span, refs] : spans_)
    settle(refs, [&](std::uint32_t p, int s) { out[p].spans.push_back({span.first, span.second, s}); });
  return out;
}

}  // namespace smtp::report
