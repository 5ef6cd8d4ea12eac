// Loads a run directory into one record per trial: trials.csv, the trial folders and experiment.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "experiment/csv_reader.hpp"

namespace bnlab::experiment {

// One row of a trial's epochs.csv.
struct EpochRow {
  long epoch = 0;
  std::string split;  // train, test, probe_train_mode, probe_eval_mode
  std::optional<double> loss, acc, lr, seconds, samples_per_s, grad_norm;
};

struct TrialRecord {
  std::string id, variant;
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> swept;  // dotted key → canonical value text, sweep order
  std::string norm;      // none, batch, layer, group; "" when the trial does not say
  double dropout = 0.0;  // the variant's dropout rate
  bool dropout_known = false;
  // done, diverged, failed, pending, running; "unknown" without any status; "missing" when the config
  // plans the trial but the run directory holds nothing for it.
  std::string status = "unknown";
  std::string error;
  std::optional<long> diverged_at_step;
  std::optional<double> lr, batch_size, target_accuracy;  // from the trial's resolved config
  std::optional<bool> drop_last;                          // only when the config states it

  // Results: trials.csv where it has them, else recomputed from epochs.csv.
  std::optional<long> epochs_run;
  std::optional<double> best_test_acc, final_test_acc, final_test_loss, final_train_acc, final_train_loss;
  std::optional<double> probe_train_mode_acc, probe_eval_mode_acc, seconds_per_epoch, samples_per_s;
  // trials.csv's own values, measured against the trial config's target accuracy.
  std::optional<double> logged_epochs_to_target, logged_steps_to_target, train_samples;

  std::vector<EpochRow> epochs;             // epochs.csv, in file order (empty when absent)
  std::map<long, long> steps_at_epoch_end;  // layers.csv: epoch → optimizer steps taken by then
  std::optional<double> steps_per_epoch;    // when layers.csv does not say (see run_records.cpp)
};

struct RunRecords {
  std::string dir, name, dataset;
  std::vector<std::string> variant_order;  // config order where known
  std::vector<std::string> swept_keys;     // config order where known
  std::vector<TrialRecord> trials;         // found trials, then planned-but-missing ones
  std::vector<std::string> notes;          // how the directory was read (fallbacks, skipped rows)
};

// Canonical text of a swept value so that 0.1 from JSON and "0.10" from a CSV compare equal.
std::string canonical_value(const std::string& text);

// Throws RunDirError when `dir` is not a directory or holds neither trials.csv nor any trial folder.
RunRecords load_run(const std::string& dir);

}  // namespace bnlab::experiment
