// A report as text: an aligned table for a terminal, RFC 4180 CSV, or the JSON of
// GET /report (SPEC section 8).
#pragma once

#include "report/report.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace smtp::report {

std::string render(const Report& report, Format format);
// Runs the query and hands the text to write in pieces (of about 1 MiB when the rows
// can stream straight from the store, see format.cpp). Throws as run_report does.
void write_report(sqlite3* db, const Query& query, const std::function<void(std::string_view)>& write,
                  const PackSource* packs = nullptr);
void write_report(const std::string& store_path, const Query& query, const std::function<void(std::string_view)>& write);
std::string render_table(const Report& report);
std::string render_csv(const Report& report);
std::string render_json(const Report& report);

// "smtp-sensor-report-2026-11-17-2026-11-23-day-trend.csv"
std::string csv_filename(const Query& query);

// 1536 -> "1.5 KiB"; below 1 KiB, whole bytes ("512 B").
std::string human_bytes(std::int64_t bytes);

}  // namespace smtp::report
