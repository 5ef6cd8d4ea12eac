// Trainer: learning, epoch-0 rows, determinism, divergence, probes that leave training unchanged.
#include "experiment/trainer.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "support/synthetic_trial.hpp"

using namespace bnlab;
using namespace bnlab::experiment;

namespace {

// Keeps every event, so tests can inspect exactly what a run log would receive.
struct Recorder : TrainObserver {
  std::optional<TrialInfo> info;
  std::vector<StepMetrics> steps;
  std::vector<EpochReport> epochs;
  std::optional<TrialSummary> finished;
  void on_start(const TrialInfo& i) override { info = i; }
  void on_step(const StepMetrics& s) override { steps.push_back(s); }
  void on_epoch(const EpochReport& r) override { epochs.push_back(r); }
  void on_finish(const TrialSummary& s) override { finished = s; }

  // Every non-timing number of the epoch rows, in order.
  std::vector<double> untimed() const {
    std::vector<double> v;
    for (const auto& e : epochs)
      for (const auto& r : e.rows)
        v.insert(v.end(), {double(r.epoch), r.loss, r.acc, r.lr, r.grad_norm.value_or(-1)});
    return v;
  }
  const EpochMetrics* row(int epoch, const std::string& split) const {
    for (const auto& e : epochs)
      for (const auto& r : e.rows)
        if (r.epoch == epoch && r.split == split) return &r;
    return nullptr;
  }
};

}  // namespace

TEST_CASE("trainer/learns the synthetic problem and reports every epoch", "[runner][trainer]") {
  test::SyntheticTrialOptions o;
  o.norm = "batch";
  o.epochs = 3;
  Recorder rec;
  const TrialSummary s = run_trial(test::synthetic_trial(o), rec);

  CHECK(s.status == "done");
  CHECK(s.epochs_run == 3);
  REQUIRE(rec.info);
  CHECK(rec.info->steps_per_epoch == 8);  // 256 samples, batch 32, drop_last
  CHECK(rec.info->train_samples == 256);
  CHECK(rec.info->test_samples == 128);
  REQUIRE(rec.epochs.size() == 4);

  // Epoch 0 is measured at initialization: test and probe rows, no train row.
  CHECK(rec.epochs[0].epoch == 0);
  CHECK(rec.row(0, "train") == nullptr);
  REQUIRE(rec.row(0, "test"));
  REQUIRE(rec.row(0, "probe_train_mode"));
  REQUIRE(rec.row(0, "probe_eval_mode"));
  for (int e = 1; e <= 3; ++e) {
    for (const char* split : {"train", "test", "probe_train_mode", "probe_eval_mode"})
      REQUIRE(rec.row(e, split));
    CHECK(rec.row(e, "train")->grad_norm.has_value());
    CHECK_FALSE(rec.row(e, "test")->grad_norm.has_value());
    CHECK(rec.epochs[e].step == 8 * e);
  }
  // Four classes: chance is 25%; a working trainer is far above it after three epochs.
  CHECK(*s.final_test_acc > 0.8);
  CHECK(*s.best_test_acc >= *s.final_test_acc);
  CHECK(s.final_test_acc == rec.row(3, "test")->acc);
  CHECK(s.final_train_loss == rec.row(3, "train")->loss);
  CHECK(rec.row(3, "train")->loss < rec.row(0, "test")->loss);
  REQUIRE(s.epochs_to_target.has_value());
  CHECK(*s.steps_to_target == 8 * *s.epochs_to_target);
  CHECK(s.samples_per_s.value_or(0) > 0);
  CHECK(s.parameters == 1 * 8 * 8 * 16 + 16 + 2 * 16 + 16 * 4 + 4);

  // Layer statistics every epoch, one per layer, with norms only for layers that have parameters.
  for (const auto& e : rec.epochs) {
    REQUIRE(e.layers.size() == 5);
    CHECK(e.layers[0].layer == "0.flatten");
    CHECK_FALSE(e.layers[0].has_params);
    CHECK(e.layers[1].has_params);
    CHECK(e.layers[1].grad_norm > 0);
    CHECK(e.layers[1].weight_norm > 0);
    CHECK(e.layers[3].act_p15 >= 0);  // after relu
  }
  // Batch norm output in train mode at initialization (γ = 1, β = 0): zero mean and unit std per
  // feature, hence over all elements.
  CHECK(rec.epochs[0].layers[2].act_mean == Approx(0).margin(1e-4));
  CHECK(rec.epochs[0].layers[2].act_std == Approx(1).epsilon(1e-2));

  // Steps logged every 4 steps: 2 per epoch.
  REQUIRE(rec.steps.size() == 6);
  CHECK(rec.steps[0].step == 4);
  CHECK(rec.steps[5].step == 24);
  CHECK(rec.steps[5].epoch == 3);
  REQUIRE(rec.finished);
  CHECK(rec.finished->status == "done");
}

TEST_CASE("trainer/same seed gives the same rows", "[runner][trainer]") {
  test::SyntheticTrialOptions o;
  o.dropout = 0.3;  // the seed must drive dropout masks too
  Recorder a, b, c;
  run_trial(test::synthetic_trial(o), a);
  run_trial(test::synthetic_trial(o), b);
  o.seed = 2;
  run_trial(test::synthetic_trial(o), c);
  CHECK(a.untimed() == b.untimed());
  CHECK(a.untimed() != c.untimed());
}

TEST_CASE("trainer/huge learning rate diverges with the step", "[runner][trainer]") {
  test::SyntheticTrialOptions o;
  o.lr = 1e6;
  o.epochs = 3;
  Recorder rec;
  const TrialSummary s = run_trial(test::synthetic_trial(o), rec);
  CHECK(s.status == "diverged");
  REQUIRE(s.diverged_at_step.has_value());
  CHECK(*s.diverged_at_step >= 2);
  CHECK(s.epochs_run < 3);
  // The step that blew up is always logged, whatever log_every_steps says.
  REQUIRE_FALSE(rec.steps.empty());
  CHECK(rec.steps.back().step == *s.diverged_at_step);
  REQUIRE(rec.finished);
  CHECK(rec.finished->status == "diverged");
}

TEST_CASE("trainer/layer statistics do not change training", "[runner][trainer]") {
  // The train-mode probe pass must not leak into batch norm's running statistics.
  test::SyntheticTrialOptions o;
  o.norm = "batch";
  Recorder with, without;
  run_trial(test::synthetic_trial(o), with);
  o.layer_stats = false;
  run_trial(test::synthetic_trial(o), without);
  CHECK(with.untimed() == without.untimed());
  CHECK(without.epochs[1].layers.empty());
}

TEST_CASE("trainer/input shape must match the dataset", "[runner][trainer]") {
  auto t = test::synthetic_trial();
  t.input = {1, 8, 9};
  t.layers[1]["units"] = 16;
  Recorder rec;
  CHECK_THROWS_WITH(run_trial(t, rec), Catch::Contains("model.input") && Catch::Contains("[1, 8, 8]"));
}
