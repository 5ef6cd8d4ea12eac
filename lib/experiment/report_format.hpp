// Renders a Report as Markdown (for people), CSV (one row per variant and setting) or JSON (everything).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "experiment/report.hpp"

namespace bnlab::experiment {

enum class ReportFormat { Markdown, Csv, Json };

// "md", "csv" or "json"; throws ConfigError naming --format otherwise.
ReportFormat parse_report_format(const std::string& name);

std::string render_markdown(const Report& report);
std::string render_csv(const Report& report);
nlohmann::json report_json(const Report& report);
std::string render_report(const Report& report, ReportFormat format);

// Writes through a temporary file and a rename, so a reader never sees half a report.
void write_report_file(const std::string& path, const std::string& text);

}  // namespace bnlab::experiment
