// `bnlab merge RUN_DIR`: rebuilds trials.csv and report.md of a run written by many tasks, lists what is
// missing.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands/registry.hpp"
#include "experiment/config.hpp"
#include "experiment/merge.hpp"

namespace bnlab::app {
namespace {

struct MergeArgs {
  std::string run_dir, config;
  std::vector<std::string> overrides;
  std::size_t shards = 0;
  bool no_report = false;
};

std::function<int()> setup_merge(CLI::App& app) {
  auto args = std::make_shared<MergeArgs>();
  app.add_option("RUN_DIR", args->run_dir, "Run directory the tasks wrote into")->required();
  app.add_option("--config", args->config,
                 "The config the tasks ran: lists trials no task started and names each unfinished trial's "
                 "shard (with --shards)");
  app.add_option("--set", args->overrides, "KEY=VALUE override the tasks ran with (repeatable)");
  app.add_option("--shards", args->shards, "Shard count the tasks ran with (bnlab run --shard I/N)");
  app.add_flag("--no-report", args->no_report, "Do not write RUN_DIR/report.md");
  return [args] {
    using namespace bnlab::experiment;
    MergeOptions options;
    if (!args->config.empty()) options.experiment = load_experiment(args->config, args->overrides);
    options.shards = args->shards;
    options.write_report = !args->no_report;
    const MergeResult result = merge_run(args->run_dir, options);
    std::cout << format_merge(result);
    return result.exit_status();
  };
}

const CommandRegistrar registrar{
    "merge",
    "Rebuild trials.csv and report.md of a run from its trial folders; list missing and failed trials "
    "(exit status 1 when any)",
    setup_merge, 35};

}  // namespace
}  // namespace bnlab::app
