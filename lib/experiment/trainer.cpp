// The training loop of one trial, its evaluations, probes and divergence check.
#include "experiment/trainer.hpp"

#include <chrono>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/batcher.hpp"
#include "experiment/data_cache.hpp"
#include "experiment/model_spec.hpp"
#include "experiment/optimizer_setup.hpp"
#include "nn/loss.hpp"

namespace bnlab::experiment {

void ObserverList::on_start(const TrialInfo& info) {
  for (auto* o : observers_) o->on_start(info);
}
void ObserverList::on_step(const StepMetrics& row) {
  for (auto* o : observers_) o->on_step(row);
}
void ObserverList::on_epoch(const EpochReport& report) {
  for (auto* o : observers_) o->on_epoch(report);
}
void ObserverList::on_finish(const TrialSummary& summary) {
  for (auto* o : observers_) o->on_finish(summary);
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double per_second(std::size_t samples, double seconds) {
  return seconds > 0 ? static_cast<double>(samples) / seconds : 0.0;
}

// Evenly spaced training indices: the same probe subset for every variant and seed of a sweep.
std::vector<std::size_t> probe_indices(std::size_t train_size, std::size_t wanted) {
  const std::size_t n = std::min(train_size, wanted);
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i * train_size / n;
  return idx;
}

class TrialRun {
 public:
  TrialRun(const TrialSpec& spec, TrainObserver& observer)
      : spec_(spec),
        observer_(observer),
        start_(Clock::now()),
        data_(load_data_cached(spec.data)),
        model_(build_model(spec.layers, spec.input)) {
    model_.set_input_grad_needed(false);  // training never reads dL/d(image)
  }

  TrialSummary run();

 private:
  // Mean loss and accuracy of the test set in eval mode, in batches of the training batch size.
  EpochMetrics evaluate_test(int epoch, double lr);
  // Train-mode and eval-mode rows on the probe subset; layer statistics when asked for. Running
  // statistics are restored after the train-mode pass, so probing leaves training unchanged.
  void evaluate_probe(int epoch, double lr, EpochReport& report);
  void check_data() const;

  const TrialSpec& spec_;
  TrainObserver& observer_;
  Clock::time_point start_;
  std::shared_ptr<const LoadedData> data_;
  nn::Sequential model_;
  nn::SoftmaxCrossEntropy train_loss_, eval_loss_;
  Tensor images_, eval_images_, probe_images_;
  std::vector<std::int32_t> labels_, eval_labels_, probe_labels_;
  std::vector<std::size_t> chunk_;
  LayerProbe layer_probe_;
  BufferSnapshot snapshot_;
};

void TrialRun::check_data() const {
  const data::Dataset& train = data_->sets.train;
  const data::Dataset& test = data_->sets.test;
  if (train.size() == 0) throw DataError("dataset " + train.name + ": the training set is empty");
  if (test.size() == 0) throw DataError("dataset " + train.name + ": the test set is empty");
  if (spec_.input != train.sample_shape())
    throw ConfigError("model.input: " + to_string(spec_.input) + " does not match the images of dataset " +
                      train.name + " " + to_string(train.sample_shape()));
}

EpochMetrics TrialRun::evaluate_test(int epoch, double lr) {
  const auto t0 = Clock::now();
  const data::Dataset& test = data_->sets.test;
  const std::size_t batch = std::max<std::size_t>(1, spec_.train.batch_size);
  model_.set_mode(nn::Mode::Eval);
  double loss_sum = 0.0;
  std::size_t correct = 0;
  for (std::size_t begin = 0; begin < test.size(); begin += batch) {
    const std::size_t end = std::min(test.size(), begin + batch);
    chunk_.resize(end - begin);
    for (std::size_t i = begin; i < end; ++i) chunk_[i - begin] = i;
    data::gather(test, data_->normalization, chunk_, eval_images_, eval_labels_);
    loss_sum +=
        eval_loss_.forward(model_.forward(eval_images_), eval_labels_) * static_cast<double>(end - begin);
    correct += eval_loss_.correct();
  }
  EpochMetrics row;
  row.epoch = epoch;
  row.split = "test";
  row.loss = loss_sum / static_cast<double>(test.size());
  row.acc = static_cast<double>(correct) / static_cast<double>(test.size());
  row.lr = lr;
  row.seconds = seconds_since(t0);
  row.samples_per_s = per_second(test.size(), row.seconds);
  return row;
}

void TrialRun::evaluate_probe(int epoch, double lr, EpochReport& report) {
  const std::size_t n = probe_labels_.size();
  if (n == 0) return;
  EpochMetrics train_mode, eval_mode;
  train_mode.epoch = eval_mode.epoch = epoch;
  train_mode.split = "probe_train_mode";
  eval_mode.split = "probe_eval_mode";
  train_mode.lr = eval_mode.lr = lr;

  auto t0 = Clock::now();
  snapshot_.save(model_);
  if (spec_.metrics.layer_stats) {
    train_mode.loss = layer_probe_.measure(model_, eval_loss_, probe_images_, probe_labels_);
    train_mode.acc = static_cast<double>(layer_probe_.correct()) / static_cast<double>(n);
    report.layers = layer_probe_.stats();
  } else {
    model_.set_mode(nn::Mode::Train);
    train_mode.loss = eval_loss_.forward(model_.forward(probe_images_), probe_labels_);
    train_mode.acc = static_cast<double>(eval_loss_.correct()) / static_cast<double>(n);
  }
  snapshot_.restore(model_);
  train_mode.seconds = seconds_since(t0);
  train_mode.samples_per_s = per_second(n, train_mode.seconds);

  t0 = Clock::now();
  model_.set_mode(nn::Mode::Eval);
  eval_mode.loss = eval_loss_.forward(model_.forward(probe_images_), probe_labels_);
  eval_mode.acc = static_cast<double>(eval_loss_.correct()) / static_cast<double>(n);
  eval_mode.seconds = seconds_since(t0);
  eval_mode.samples_per_s = per_second(n, eval_mode.seconds);

  report.rows.push_back(train_mode);
  report.rows.push_back(eval_mode);
}

TrialSummary TrialRun::run() {
  check_data();
  const data::Dataset& train = data_->sets.train;
  const data::Dataset& test = data_->sets.test;
  const MetricsSpec& metrics = spec_.metrics;

  // One trial seed, split into independent streams for initialization (and dropout masks) and for
  // shuffling and augmentation.
  core::Rng rng(spec_.seed);
  core::Rng init_rng(rng.split());
  model_.initialize(init_rng);
  data::BatcherOptions batcher_options;
  batcher_options.batch_size = spec_.train.batch_size;
  batcher_options.shuffle = true;
  batcher_options.drop_last = spec_.train.drop_last;
  batcher_options.augment = spec_.data.augment;
  data::Batcher batcher(train, data_->normalization, batcher_options, rng.split());
  const std::size_t steps_per_epoch = batcher.batches_per_epoch();
  if (steps_per_epoch == 0)
    throw ConfigError("train.batch_size: " + std::to_string(spec_.train.batch_size) +
                      " leaves no complete batch of the " + std::to_string(train.size()) +
                      " training samples (drop_last is on)");

  std::vector<nn::Param> params = model_.params();
  auto optimizer = make_optimizer(spec_.train.optimizer, params);
  const optim::ScheduleSpec schedule = schedule_for(spec_.train, steps_per_epoch);
  optim::validate(schedule);
  data::gather(train, data_->normalization, probe_indices(train.size(), metrics.probe_samples), probe_images_,
               probe_labels_);

  TrialInfo info;
  info.trial = spec_.id;
  info.epochs = spec_.train.epochs;
  info.steps_per_epoch = steps_per_epoch;
  info.parameters = model_.parameter_count();
  info.train_samples = train.size();
  info.test_samples = test.size();
  info.dataset = train.name;
  info.dataset_source = train.source;
  info.model = model_.describe();
  observer_.on_start(info);

  TrialSummary summary;
  summary.status = "running";
  summary.parameters = info.parameters;
  summary.train_samples = info.train_samples;
  summary.test_samples = info.test_samples;
  summary.dataset = info.dataset;
  summary.dataset_source = info.dataset_source;

  const auto record_test = [&](const EpochMetrics& row) {
    if (!summary.best_test_acc || row.acc > *summary.best_test_acc) {
      summary.best_test_acc = row.acc;
      summary.best_epoch = row.epoch;
    }
    summary.final_test_acc = row.acc;
    summary.final_test_loss = row.loss;
  };
  const auto record_probe = [&](const EpochReport& report) {
    for (const auto& r : report.rows) {
      if (r.split == "probe_train_mode") summary.probe_train_mode_acc = r.acc;
      if (r.split == "probe_eval_mode") summary.probe_eval_mode_acc = r.acc;
    }
  };

  // Epoch 0: the model at initialization.
  EpochReport report;
  report.epochs = spec_.train.epochs;
  {
    const double lr0 = optim::learning_rate(schedule, 0);
    report.rows.push_back(evaluate_test(0, lr0));
    record_test(report.rows.back());
    evaluate_probe(0, lr0, report);
    record_probe(report);
    if (metrics.target_accuracy && report.rows.front().acc >= *metrics.target_accuracy) {
      summary.epochs_to_target = 0;
      summary.steps_to_target = 0;
    }
    report.elapsed_seconds = seconds_since(start_);
    observer_.on_epoch(report);
  }

  long step = 0;
  double first_loss = 0.0, train_seconds = 0.0, epoch_seconds = 0.0;
  std::size_t train_samples_seen = 0;
  for (int epoch = 1; epoch <= spec_.train.epochs && !summary.diverged_at_step; ++epoch) {
    const auto epoch_start = Clock::now();
    report.epoch = epoch;
    report.rows.clear();
    report.layers.clear();
    model_.set_mode(nn::Mode::Train);
    batcher.start_epoch();
    double loss_sum = 0.0, grad_norm_sum = 0.0, lr = 0.0;
    std::size_t seen = 0, correct = 0;
    long epoch_steps = 0;
    while (batcher.next(images_, labels_)) {
      ++step;
      ++epoch_steps;
      lr = optim::learning_rate(schedule, step - 1);
      optimizer->zero_grad();
      const double loss = train_loss_.forward(model_.forward(images_), labels_);
      const std::size_t batch = labels_.size();
      seen += batch;
      correct += train_loss_.correct();
      loss_sum += loss * static_cast<double>(batch);
      const bool blew_up = !std::isfinite(loss) ||
                           (step > 1 && first_loss > 0.0 && loss > metrics.divergence_factor * first_loss);
      double grad_norm = 0.0;
      if (!blew_up) {
        model_.backward(train_loss_.backward());
        grad_norm = global_grad_norm(params);
      }
      const bool log_step = metrics.log_every_steps > 0 && step % metrics.log_every_steps == 0;
      if (blew_up || !std::isfinite(grad_norm)) {
        summary.diverged_at_step = step;
        observer_.on_step({step, epoch, loss, static_cast<double>(train_loss_.correct()) / batch, lr});
        break;
      }
      if (step == 1) first_loss = loss;
      optimizer->step(lr);
      grad_norm_sum += grad_norm;
      if (log_step)
        observer_.on_step({step, epoch, loss, static_cast<double>(train_loss_.correct()) / batch, lr});
    }
    const double steps_seconds = seconds_since(epoch_start);
    train_seconds += steps_seconds;
    train_samples_seen += seen;

    EpochMetrics train_row;
    train_row.epoch = epoch;
    train_row.split = "train";
    train_row.loss = seen ? loss_sum / static_cast<double>(seen) : std::nan("");
    train_row.acc = seen ? static_cast<double>(correct) / static_cast<double>(seen) : std::nan("");
    train_row.lr = lr;
    train_row.seconds = steps_seconds;
    train_row.samples_per_s = per_second(seen, steps_seconds);
    if (epoch_steps > 0) train_row.grad_norm = grad_norm_sum / static_cast<double>(epoch_steps);
    report.step = step;
    report.rows.push_back(train_row);
    if (summary.diverged_at_step) {
      // The partial epoch's train row shows the blow-up; there is no model worth evaluating.
      report.elapsed_seconds = seconds_since(start_);
      observer_.on_epoch(report);
      break;
    }
    summary.final_train_acc = train_row.acc;
    summary.final_train_loss = train_row.loss;

    report.rows.push_back(evaluate_test(epoch, lr));
    const EpochMetrics& test_row = report.rows.back();
    record_test(test_row);
    if (metrics.target_accuracy && !summary.epochs_to_target && test_row.acc >= *metrics.target_accuracy) {
      summary.epochs_to_target = epoch;
      summary.steps_to_target = step;
    }
    evaluate_probe(epoch, lr, report);
    record_probe(report);
    summary.epochs_run = epoch;
    epoch_seconds += seconds_since(epoch_start);
    report.elapsed_seconds = seconds_since(start_);
    observer_.on_epoch(report);
  }

  summary.status = summary.diverged_at_step ? "diverged" : "done";
  summary.seconds = seconds_since(start_);
  if (summary.epochs_run > 0) summary.seconds_per_epoch = epoch_seconds / summary.epochs_run;
  if (train_seconds > 0) summary.samples_per_s = per_second(train_samples_seen, train_seconds);
  observer_.on_finish(summary);
  return summary;
}

}  // namespace

TrialSummary run_trial(const TrialSpec& spec, TrainObserver& observer) {
  TrialRun run(spec, observer);
  return run.run();
}

}  // namespace bnlab::experiment
