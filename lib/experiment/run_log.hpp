// The files a run writes (docs/outputs.md): experiment.json, per-trial logs and status, trials.csv.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "experiment/config.hpp"
#include "experiment/trainer.hpp"

namespace bnlab::experiment {

// A run directory that cannot be used as asked (holds another experiment, finished trials without
// --resume, unwritable files).
struct RunError : Error {
  using Error::Error;
};

// Writes content through a temporary file in the same directory, fsync and rename: readers and
// concurrent writers (cluster nodes sharing the directory) only ever see a complete file.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

// Where and how a run was started, recorded in experiment.json and in each trial's summary.
struct RunEnvironment {
  int threads = 1;                      // compute threads of the whole run
  int jobs = 1;                         // trials trained in parallel
  std::string host, start_time, shard;  // shard: "I/N" (1-based) or empty
};
RunEnvironment current_environment(int threads, int jobs, const std::string& shard);
std::string iso_time_now();

// Writes experiment.json unless the directory already holds it for the same trials; throws RunError
// when it holds a different experiment.
void write_experiment_json(const std::filesystem::path& run_dir, const Experiment& experiment,
                           const RunEnvironment& env);

std::filesystem::path trial_dir(const std::filesystem::path& run_dir, const std::string& trial_id);

// status.json of a trial.
struct TrialStatus {
  std::string trial, status = "pending", error, updated;
  std::optional<long> diverged_at_step;
  int epochs_done = 0;
};
void write_status(const std::filesystem::path& dir, const TrialStatus& status);
std::optional<TrialStatus> read_status(const std::filesystem::path& dir);
// done and diverged are finished outcomes: a resumed run skips them.
bool is_finished(const std::string& status);

// summary.json of a trial: its trials.csv row, written atomically when the trial ends.
nlohmann::json summary_to_json(const TrialSummary& s);
TrialSummary summary_from_json(const nlohmann::json& j);
std::optional<TrialSummary> read_summary(const std::filesystem::path& dir);
// Writes summary.json, then status.json with the summary's status: how every trial ends, including
// one whose process died (the runner records that on its behalf).
void write_outcome(const std::filesystem::path& dir, const std::string& trial,
                   const std::vector<std::string>& ids, const RunEnvironment& env,
                   const TrialSummary& summary);

// The identifying columns that start every CSV row: trial, variant, seed, then the swept keys.
std::vector<std::string> id_columns(const std::vector<std::string>& swept_keys);
std::vector<std::string> id_cells(const TrialSpec& spec, const std::vector<std::string>& swept_keys);

// Writes one trial's folder as training reports it: config.json, epochs.csv, steps.csv, layers.csv
// (rows flushed every epoch), status.json after every epoch and summary.json at the end. Creating it
// removes whatever an earlier, unfinished attempt left, so rows are never duplicated.
class TrialLog : public TrainObserver {
 public:
  TrialLog(const std::filesystem::path& run_dir, const TrialSpec& spec,
           const std::vector<std::string>& swept_keys, const RunEnvironment& env);
  void on_start(const TrialInfo& info) override;
  void on_step(const StepMetrics& row) override;
  void on_epoch(const EpochReport& report) override;
  void on_finish(const TrialSummary& summary) override;
  // The trial stopped with an error: status and summary say failed, with the error text.
  void fail(const std::string& error);
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void finish(const TrialSummary& summary);
  std::filesystem::path dir_;
  std::string trial_;
  std::vector<std::string> ids_;
  RunEnvironment env_;
  std::ofstream epochs_, steps_, layers_;
  std::optional<TrialInfo> info_;
  int epochs_done_ = 0;
  double started_ = 0;  // steady clock seconds, for the seconds of a failed trial
};

// One trial of the experiment as its folder shows it now.
struct LoggedTrial {
  std::string trial, variant;
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, nlohmann::json>> swept;
  std::string status = "pending";
  std::optional<TrialSummary> summary;
};
// Every trial listed in run_dir/experiment.json, in plan order; throws RunError when it is missing.
std::vector<LoggedTrial> read_logged_trials(const std::filesystem::path& run_dir);

// Rebuilds run_dir/trials.csv from experiment.json and the trial folders, and replaces it atomically.
// Safe to call from any number of processes and hosts at once: each rebuild reads only finished
// files, rebuilds are serialized by a lock file where the filesystem supports it, and the rename
// means no reader ever sees a torn table.
void rebuild_trials_csv(const std::filesystem::path& run_dir);

// The header of trials.csv (ids, then the summary columns of docs/outputs.md).
std::vector<std::string> trials_csv_header(const std::vector<std::string>& swept_keys);

}  // namespace bnlab::experiment
