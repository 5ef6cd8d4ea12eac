// Merges a run directory that many processes or cluster nodes wrote into: trials.csv, report, what is
// missing.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiment/config.hpp"

namespace bnlab::experiment {

struct MergeOptions {
  // The experiment as the tasks planned it (load_experiment of their config and --set overrides). Lets
  // the merge list trials of a run in which no task got as far as writing experiment.json, and say
  // which shard each unfinished trial belonged to.
  std::optional<Experiment> experiment;
  std::size_t shards = 0;    // the shard count the tasks ran with; 0 = unknown
  bool write_report = true;  // report.md via the report module
};

// One trial that did not finish.
struct UnfinishedTrial {
  std::string trial;
  std::string status;  // missing (never started), failed, running or pending (its process ended early)
  std::string reason;  // the error text, or what the merge could find out
  std::optional<std::size_t> shard;  // 1-based shard that ran it, when known
  std::string task_log;              // the array task's error log, when one exists
};

// The error log of an array task that left trials unfinished, with its last lines (often the reason:
// a time limit, an out-of-memory kill, a missing file).
struct TaskLog {
  std::size_t shard = 0;  // 1-based
  std::string path;
  std::vector<std::string> tail;
};

struct MergeResult {
  std::filesystem::path run_dir;
  std::size_t planned = 0, done = 0, diverged = 0;
  std::vector<std::string> diverged_trials;  // "<trial> (step N)": a measured outcome, not an error
  std::vector<UnfinishedTrial> unfinished;   // in plan order
  bool trials_csv_written = false, report_written = false;
  std::vector<TaskLog> task_logs;     // one per shard with unfinished trials, where a log exists
  std::vector<std::string> notes;     // how the merge read the directory
  std::vector<std::string> problems;  // what the merge itself could not do (e.g. the report failed)
  std::size_t count(const std::string& status) const;
  bool complete() const { return unfinished.empty() && problems.empty(); }
  int exit_status() const { return complete() ? 0 : 1; }
};

// Rebuilds run_dir/trials.csv from the trial folders (atomically), classifies every planned trial,
// and writes run_dir/report.md. Idempotent: running it again, or while tasks still run, is safe.
// Throws RunError when run_dir holds no run and options.experiment is absent.
MergeResult merge_run(const std::filesystem::path& run_dir, const MergeOptions& options = {});

// The text `bnlab merge` prints: counts, then each unfinished trial with its reason and shard.
std::string format_merge(const MergeResult& result);

}  // namespace bnlab::experiment
