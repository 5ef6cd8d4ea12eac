// `bnlab run CONFIG`: trains every trial of an experiment (or one shard) into a run directory.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands/registry.hpp"
#include "experiment/config.hpp"
#include "experiment/console.hpp"
#include "experiment/runner.hpp"

namespace bnlab::app {
namespace {

struct RunArgs {
  std::string config, out, shard;
  std::vector<std::string> overrides;
  int jobs = 1, threads = 0;
  bool resume = false, fail_fast = false;
};

std::function<int()> setup_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  app.add_option("CONFIG", args->config, "Experiment config (JSON)")->required()->check(CLI::ExistingFile);
  app.add_option("--set", args->overrides,
                 "Override a config key by its dotted path, KEY=VALUE (VALUE as JSON, else text); repeatable")
      ->allow_extra_args(false);  // one KEY=VALUE per --set, so CONFIG is never swallowed
  app.add_option("--out", args->out, "Run directory (default runs/<config name>)");
  app.add_option("--jobs", args->jobs, "Trials trained at once, each in its own process")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", args->threads,
                 "Compute threads of the whole run, split between the jobs (default: every CPU available)")
      ->check(CLI::PositiveNumber);
  app.add_option("--shard", args->shard,
                 "Run only shard I of N (1-based, e.g. 2/8); without it a Slurm array task runs shard "
                 "(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) + 1 of SLURM_ARRAY_TASK_COUNT");
  app.add_flag("--resume", args->resume,
               "Continue a run: skip trials that are done or diverged, restart unfinished ones from scratch");
  app.add_flag("--fail-fast", args->fail_fast, "Start no new trial after one fails (running ones finish)");
  return [args] {
    using namespace bnlab::experiment;
    const Experiment experiment = load_experiment(args->config, args->overrides);
    RunOptions options;
    options.out_dir = args->out.empty() ? "runs/" + experiment.name : args->out;
    options.jobs = args->jobs;
    options.threads = args->threads;
    options.shard = args->shard.empty() ? shard_from_environment() : parse_shard(args->shard);
    options.resume = args->resume;
    options.fail_fast = args->fail_fast;
    Console console(std::cout, Console::stdout_is_terminal());
    const RunResult result = run_experiment(experiment, options, &console);
    std::cout << result.done << " done, " << result.diverged << " diverged, " << result.failed << " failed";
    if (result.skipped) std::cout << ", " << result.skipped << " skipped (finished before)";
    if (result.not_run) std::cout << ", " << result.not_run << " not run (--fail-fast)";
    std::cout << " of " << result.trials << " trial" << (result.trials == 1 ? "" : "s")
              << (options.shard ? " in shard " + options.shard->text() : std::string()) << "\n";
    return result.exit_status();
  };
}

const CommandRegistrar registrar{
    "run", "Train the trials of an experiment config and log everything they measure", setup_run, 10};

}  // namespace
}  // namespace bnlab::app
