// Runs an experiment's trials (or one shard of them) into a run directory: in this process or in
// parallel child processes, resuming, reporting each outcome as it happens.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "experiment/config.hpp"
#include "experiment/console.hpp"

namespace bnlab::experiment {

// One slice of the trial list; index is 0-based (select_shard's convention).
struct Shard {
  std::size_t index = 0, count = 1;
  // "I/N" with a 1-based I, as the CLI writes it.
  std::string text() const;
};

// Parses "I/N" with 1 ≤ I ≤ N (1-based, as people count shards); throws ConfigError naming --shard.
Shard parse_shard(const std::string& text);

// The shard of a Slurm job array task, or nullopt outside one. Slurm numbers tasks by the indices
// given to --array (0-based for --array=0-7, 1-based for --array=1-8, stepped for --array=0-14:2), so
// the shard index is (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP and the
// count is SLURM_ARRAY_TASK_COUNT; both conventions work without changing the job script. Throws
// ConfigError when the variables are inconsistent (e.g. an index list with gaps: use --shard).
std::optional<Shard> shard_from_environment(const std::function<const char*(const char*)>& getenv);
std::optional<Shard> shard_from_environment();

struct RunOptions {
  std::filesystem::path out_dir;
  int jobs = 1;     // trials trained at once, each in its own process when > 1
  int threads = 0;  // compute threads shared by all jobs; 0 = every CPU this process may use
  std::optional<Shard> shard;
  bool resume = false;     // skip trials whose status is done or diverged
  bool fail_fast = false;  // after a failed trial start no new one (running ones finish)
};

// What happened to the trials of the slice. Finished means done or diverged: divergence is a
// measured outcome (the learning rate was too large), a failure is not.
struct RunResult {
  std::size_t trials = 0, skipped = 0, done = 0, diverged = 0, failed = 0, not_run = 0;
  bool all_finished() const { return failed == 0 && not_run == 0; }
  int exit_status() const { return all_finished() ? 0 : 1; }
};

// CPUs this process may run on (its affinity mask, which Slurm and taskset restrict).
int available_cpus();

// Runs the slice into options.out_dir (docs/outputs.md). Throws RunError before training when the
// directory holds another experiment, or finished trials of this slice without options.resume;
// DataError when a dataset is missing. Trial failures are results, not exceptions. console may be null.
RunResult run_experiment(const Experiment& experiment, const RunOptions& options, Console* console);

}  // namespace bnlab::experiment
