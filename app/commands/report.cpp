// `bnlab report RUN_DIR`: the comparison table and claim verdicts of a finished or partial run.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "commands/registry.hpp"
#include "experiment/report.hpp"
#include "experiment/report_format.hpp"

namespace bnlab::app {
namespace {

struct ReportArgs {
  std::string run_dir, format = "md", out;
  std::optional<double> target_acc;
};

std::function<int()> setup_report(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  app.add_option("RUN_DIR", args->run_dir,
                 "Run directory written by `bnlab run` (holds trials.csv and trial folders)")
      ->required();
  app.add_option("--format", args->format, "md (also written to RUN_DIR/report.md), csv or json")
      ->check(CLI::IsMember({"md", "csv", "json"}))
      ->capture_default_str();
  app.add_option(
         "--target-acc", args->target_acc,
         "Target test accuracy (fraction, e.g. 0.88) for epochs/steps to target; overrides the config's "
         "metrics.target_accuracy")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--out", args->out, "Write the report to this file (md: instead of RUN_DIR/report.md)");
  return [args] {
    using namespace bnlab::experiment;
    ReportFormat format = parse_report_format(args->format);
    Report report = build_report(load_run(args->run_dir), ReportOptions{args->target_acc});
    std::string text = render_report(report, format);
    std::string path = args->out;
    if (path.empty() && format == ReportFormat::Markdown) path = args->run_dir + "/report.md";
    if (!path.empty()) write_report_file(path, text);
    std::cout << text;
    if (!path.empty()) std::cerr << "wrote " << path << "\n";
    return 0;
  };
}

const CommandRegistrar registrar{"report", "Summarize a run directory: per-variant table and claim verdicts",
                                 setup_report, 30};

}  // namespace
}  // namespace bnlab::app
