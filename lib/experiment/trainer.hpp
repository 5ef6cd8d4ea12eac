// Runs one trial: epochs of mini-batches with evaluation, probes and divergence detection, reported
// to observers (the trainer knows nothing of files or terminals).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/config.hpp"
#include "experiment/probes.hpp"

namespace bnlab::experiment {

// What is known once the data is loaded and the model is built.
struct TrialInfo {
  std::string trial;
  int epochs = 0;
  std::size_t steps_per_epoch = 0, parameters = 0, train_samples = 0, test_samples = 0;
  std::string dataset, dataset_source;
  nlohmann::json model;  // nn::Sequential::describe()
};

// One row of epochs.csv (see docs/outputs.md).
struct EpochMetrics {
  int epoch = 0;
  std::string split;  // train, test, probe_train_mode, probe_eval_mode
  double loss = 0, acc = 0, lr = 0, seconds = 0, samples_per_s = 0;
  std::optional<double> grad_norm;  // train rows only
};

// One row of steps.csv.
struct StepMetrics {
  long step = 0;  // 1-based count of optimizer steps
  int epoch = 0;  // 1-based epoch the step belongs to
  double loss = 0, acc = 0, lr = 0;
};

// Everything measured at the end of an epoch (epoch 0: at initialization, before any step).
struct EpochReport {
  int epoch = 0, epochs = 0;
  long step = 0;  // optimizer steps taken so far
  std::vector<EpochMetrics> rows;
  std::vector<LayerStats> layers;  // empty when metrics.layer_stats is off
  double elapsed_seconds = 0;      // since the trial started
};

// The trial's row of trials.csv. Optional fields are empty cells: not reached or not applicable.
struct TrialSummary {
  std::string status = "pending";  // done, diverged, failed (pending/running before it ends)
  int epochs_run = 0;
  std::optional<double> best_test_acc;
  std::optional<int> best_epoch;
  std::optional<double> final_test_acc, final_test_loss, final_train_acc, final_train_loss;
  std::optional<double> probe_train_mode_acc, probe_eval_mode_acc;
  std::optional<int> epochs_to_target;
  std::optional<long> steps_to_target, diverged_at_step;
  double seconds = 0;
  std::optional<double> seconds_per_epoch, samples_per_s;
  std::optional<std::size_t> parameters, train_samples, test_samples;
  std::string dataset, dataset_source, error;
};

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_start(const TrialInfo& /*info*/) {}
  // Called every metrics.log_every_steps steps, and for the step at which training diverged.
  virtual void on_step(const StepMetrics& /*row*/) {}
  virtual void on_epoch(const EpochReport& /*report*/) {}
  // The trial ended as done or diverged (failures surface as exceptions from run_trial).
  virtual void on_finish(const TrialSummary& /*summary*/) {}
};

// Forwards every event to several observers, in order.
class ObserverList : public TrainObserver {
 public:
  explicit ObserverList(std::vector<TrainObserver*> observers) : observers_(std::move(observers)) {}
  void on_start(const TrialInfo& info) override;
  void on_step(const StepMetrics& row) override;
  void on_epoch(const EpochReport& report) override;
  void on_finish(const TrialSummary& summary) override;

 private:
  std::vector<TrainObserver*> observers_;
};

// Trains the trial's model from its seed. Deterministic: the same spec and thread count give the
// same rows apart from timing. Throws bnlab::Error (bad data, model or config) and lets other
// exceptions through; divergence is a result (status "diverged"), not an exception.
TrialSummary run_trial(const TrialSpec& spec, TrainObserver& observer);

}  // namespace bnlab::experiment
