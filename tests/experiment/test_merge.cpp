// Merge: trials.csv and report.md rebuilt from the trial folders, and every unfinished trial named with why.
#include "experiment/merge.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "experiment/run_log.hpp"
#include "experiment/runner.hpp"
#include "support/synthetic_trial.hpp"
#include "support/temp_dir.hpp"

using namespace bnlab;
using namespace bnlab::experiment;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The 4-trial synthetic sweep (plain/batchnorm × seeds 1, 2), one epoch, run in this process.
Experiment small_sweep() {
  return parse_experiment(test::synthetic_config(1), {}, "merge-test");
}

void run_sweep(const Experiment& experiment, const fs::path& dir) {
  RunOptions options;
  options.out_dir = dir;
  options.threads = 1;
  REQUIRE(run_experiment(experiment, options, nullptr).exit_status() == 0);
}

const UnfinishedTrial* find_unfinished(const MergeResult& r, const std::string& trial) {
  for (const auto& u : r.unfinished)
    if (u.trial == trial) return &u;
  return nullptr;
}

}  // namespace

TEST_CASE("merge/a finished run merges cleanly and idempotently", "[merge][slurm]") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "run";
  const Experiment experiment = small_sweep();
  run_sweep(experiment, dir);
  const std::string written = read_text(dir / "trials.csv");
  fs::remove(dir / "trials.csv");

  const MergeResult first = merge_run(dir);
  CHECK(first.planned == 4);
  CHECK(first.done == 4);
  CHECK(first.unfinished.empty());
  CHECK(first.complete());
  CHECK(first.exit_status() == 0);
  CHECK(first.report_written);
  CHECK(read_text(dir / "trials.csv") == written);
  CHECK(fs::file_size(dir / "report.md") > 0);

  const MergeResult second = merge_run(dir);
  CHECK(second.done == 4);
  CHECK(read_text(dir / "trials.csv") == written);
  CHECK_THAT(format_merge(second),
             Catch::Contains("4 planned trials: 4 done, 0 diverged, 0 failed, 0 missing"));
}

TEST_CASE("merge/missing, failed, interrupted and diverged trials are told apart", "[merge][slurm]") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "run";
  const Experiment experiment = small_sweep();
  run_sweep(experiment, dir);
  const std::size_t shards = 2;
  const auto ids_of = [&](const TrialSpec& t) { return id_cells(t, experiment.swept_keys); };
  const TrialSpec& never_started = experiment.trials[0];
  const TrialSpec& failed = experiment.trials[1];
  const TrialSpec& interrupted = experiment.trials[2];
  const TrialSpec& diverged = experiment.trials[3];

  fs::remove_all(trial_dir(dir, never_started.id));
  TrialSummary failure;
  failure.status = "failed";
  failure.error = "DataError: data/x: file truncated, at byte 12";
  write_outcome(trial_dir(dir, failed.id), failed.id, ids_of(failed), current_environment(1, 1, ""), failure);
  fs::remove(trial_dir(dir, interrupted.id) / "summary.json");
  TrialStatus running;
  running.trial = interrupted.id;
  running.status = "running";
  running.epochs_done = 1;
  write_status(trial_dir(dir, interrupted.id), running);
  TrialSummary divergence;
  divergence.status = "diverged";
  divergence.diverged_at_step = 7;
  write_outcome(trial_dir(dir, diverged.id), diverged.id, ids_of(diverged), current_environment(1, 1, ""),
                divergence);

  // The array task that should have run the missing trial left a reason in its error log.
  std::size_t shard_of_missing = 0;
  for (std::size_t s = 0; s < shards; ++s)
    for (const auto& t : select_shard(experiment.trials, s, shards))
      if (t.id == never_started.id) shard_of_missing = s + 1;
  fs::create_directories(dir / "slurm");
  std::ofstream(dir / "slurm" / ("array-41_" + std::to_string(shard_of_missing - 1) + ".err"))
      << "slurmstepd: error: *** JOB 42 ON node7 CANCELLED AT 2024-05-01T10:00:00 DUE TO TIME LIMIT ***\n";

  MergeOptions options;
  options.experiment = experiment;
  options.shards = shards;
  const MergeResult r = merge_run(dir, options);
  CHECK(r.planned == 4);
  CHECK(r.done == 0);
  CHECK(r.diverged == 1);
  REQUIRE(r.diverged_trials.size() == 1);
  CHECK(r.diverged_trials[0] == diverged.id + " (step 7)");
  CHECK(r.count("missing") == 1);
  CHECK(r.count("failed") == 1);
  CHECK(r.count("running") == 1);
  CHECK(r.exit_status() == 1);

  const UnfinishedTrial* missing = find_unfinished(r, never_started.id);
  REQUIRE(missing);
  CHECK(missing->status == "missing");
  CHECK(missing->reason == "never started");
  CHECK(missing->shard == shard_of_missing);
  CHECK(fs::path(missing->task_log).filename() ==
        "array-41_" + std::to_string(shard_of_missing - 1) + ".err");
  const UnfinishedTrial* failed_trial = find_unfinished(r, failed.id);
  REQUIRE(failed_trial);
  CHECK(failed_trial->reason == failure.error);
  const UnfinishedTrial* interrupted_trial = find_unfinished(r, interrupted.id);
  REQUIRE(interrupted_trial);
  CHECK_THAT(interrupted_trial->reason, Catch::Contains("after 1 epochs"));

  const std::string text = format_merge(r);
  CHECK_THAT(text, Catch::Contains("DUE TO TIME LIMIT"));
  CHECK_THAT(text, Catch::Contains(failure.error));
  CHECK_THAT(text, Catch::Contains("1 failed, 1 missing (never started), 1 interrupted"));

  // trials.csv is rebuilt with the same statuses, and the partial report is still written.
  const std::string csv = read_text(dir / "trials.csv");
  CHECK_THAT(csv, Catch::Contains(failed.id + ",") && Catch::Contains(",failed,"));
  CHECK_THAT(csv, Catch::Contains(",diverged,"));
  CHECK(r.report_written);
}

TEST_CASE("merge/a run no task started lists every planned trial as missing", "[merge][slurm]") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "run";
  fs::create_directories(dir);
  CHECK_THROWS_WITH(merge_run(dir), Catch::Contains("no experiment.json"));

  MergeOptions options;
  options.experiment = small_sweep();
  options.shards = 4;
  const MergeResult r = merge_run(dir, options);
  CHECK(r.planned == 4);
  CHECK(r.count("missing") == 4);
  CHECK_FALSE(r.trials_csv_written);
  CHECK_FALSE(fs::exists(dir / "trials.csv"));
  for (const auto& u : r.unfinished) CHECK(u.shard.has_value());
  CHECK(r.exit_status() == 1);
}

TEST_CASE("merge/the command's exit status says whether trials are missing", "[merge][slurm]") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "run";
  const Experiment experiment = small_sweep();
  run_sweep(experiment, dir);
  auto merge = [&] {
    FILE* pipe = popen((std::string(BNLAB_BINARY) + " merge " + dir.string() + " 2>&1").c_str(), "r");
    REQUIRE(pipe);
    std::array<char, 4096> buffer{};
    std::string output;
    for (std::size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;)
      output.append(buffer.data(), n);
    const int status = pclose(pipe);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, output);
  };
  auto [ok_status, ok_output] = merge();
  INFO(ok_output);
  CHECK(ok_status == 0);
  fs::remove_all(trial_dir(dir, experiment.trials[1].id));
  auto [missing_status, missing_output] = merge();
  INFO(missing_output);
  CHECK(missing_status == 1);
  CHECK_THAT(missing_output, Catch::Contains("missing  " + experiment.trials[1].id));
}
