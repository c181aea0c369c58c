#include "report/order.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace smtp::report {

void sort_rows(Report& report) {
  const Query& q = report.query;
  auto& rows = report.rows;
  if (q.sort != Column::period) {
    std::vector<std::uint32_t> order(report.keys.size()), rank(report.keys.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return report.keys[a] < report.keys[b]; });
    for (std::uint32_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
    auto key_cmp = [&](const Row& a, const Row& b) { return rank[a.key] < rank[b.key] ? -1 : rank[a.key] > rank[b.key] ? 1 : 0; };
    std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) { return before(q, a, b, key_cmp); });
  }
  if (q.top && *q.top < rows.size()) rows.resize(*q.top);
}

}  // namespace smtp::report
