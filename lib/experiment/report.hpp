// The comparison a run answers: per variant and swept setting, mean ± std over seeds of each result,
// each variant's best and largest stable learning rate, the incomplete trials, and verdicts on the claims.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/run_records.hpp"

namespace bnlab::experiment {

// Spread over seeds. std is the sample standard deviation (n − 1); NaN when n < 2.
struct Stat {
  std::size_t n = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();
};
Stat summarize(const std::vector<double>& values);
// {"mean", "std", "n"} with null for what is not a number.
nlohmann::json stat_json(const Stat& s);

struct ReportOptions {
  std::optional<double> target_accuracy;  // overrides every trial's metrics.target_accuracy
};

using Setting = std::vector<std::pair<std::string, std::string>>;  // swept key → value (seed excluded)

// What a report needs from one trial, with epochs and steps to target measured against the report's target.
struct TrialOutcome {
  std::string id, variant, status, error;
  std::uint64_t seed = 0;
  Setting setting;
  std::optional<long> diverged_at_step, epochs_run, epochs_to_target, steps_to_target;
  std::optional<double> target, best_test_acc, final_test_acc;
};

// The classes the claims compare, from the trial's norm and dropout: "none", "bn", "dropout",
// "bn+dropout", "ln", "ln+dropout", "gn", "gn+dropout", or "unknown" when a trial does not say.
std::string variant_kind(const std::string& norm, double dropout, bool dropout_known);

struct GroupSummary {
  std::string variant, kind, norm;
  double dropout = 0.0;
  Setting setting;
  std::optional<double> lr, batch_size;
  std::size_t trials = 0, done = 0, diverged = 0, failed = 0, unfinished = 0, missing = 0;
  std::size_t reached_target = 0;  // done trials that reached the target accuracy
  // Over done trials. Epochs and steps to target count only the trials that reached it; the censored
  // version counts a trial that never reached it as epochs_run + 1 (used by the convergence claim).
  Stat best_test_acc, final_test_acc, test_acc_epoch1, epochs_to_target, steps_to_target,
      censored_epochs_to_target;
  Stat acc_gap;      // final train acc − final test acc
  Stat loss_gap;     // final test loss − final train loss
  Stat bn_eval_gap;  // probe accuracy in train mode − in eval mode
  Stat seconds_per_epoch, samples_per_s;
};

struct VariantSummary {
  std::string name, kind, norm;
  double dropout = 0.0;
  std::optional<std::size_t> best_group;  // index into Report::groups
  std::optional<double> best_lr;
  // Learning rates over this variant's trials: stable = at least one trial done and none diverged.
  std::optional<double> largest_stable_lr, smallest_diverged_lr, largest_lr_tried;
  std::size_t lr_values_tried = 0;
};

struct Claim {
  std::string key;         // faster_convergence, larger_learning_rates, accuracy, regularization, ...
  std::string statement;   // what is claimed, in words
  std::string comparison;  // e.g. "batchnorm vs plain"
  std::string verdict;     // supported, not supported, inconclusive, not assessed
  std::string evidence;    // the numbers behind the verdict, in words
  nlohmann::json numbers;  // the same numbers, structured
};

struct Report {
  std::string run_dir, run_name, dataset;
  std::optional<double> target_accuracy;
  std::string target_source;  // "--target-acc", "config", "config (differs by trial)", "none"
  std::vector<std::string> swept_keys;
  std::vector<TrialOutcome> trials;
  std::vector<GroupSummary> groups;      // variant order, then swept values in ascending order
  std::vector<VariantSummary> variants;  // config order
  std::vector<Claim> claims;
  std::size_t planned = 0, done = 0, diverged = 0, failed = 0, unfinished = 0, missing = 0;
  std::vector<std::string> notes;
  bool partial() const { return done + diverged != planned; }
};

Report build_report(const RunRecords& run, const ReportOptions& options = {});

}  // namespace bnlab::experiment
