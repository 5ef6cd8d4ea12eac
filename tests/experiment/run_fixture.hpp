// Writes small run directories with known values, in the layout of docs/outputs.md, for report and plot
// tests.
#pragma once

#include "support/temp_dir.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bnlab::test {

// One trial of a fixture. Its test accuracy is 0.1 at epoch 0, then rises to final_acc:
// final − 0.2 at epoch E − 2, final − 0.05 at E − 1, final at E (and final − 0.2 − 0.05·k further back).
struct FixtureTrial {
  std::string variant, norm = "none";
  double dropout = 0.0, lr = 0.1;
  int batch_size = 32;
  std::uint64_t seed = 1;
  // done, diverged, failed and running get a folder; pending is planned and listed in trials.csv only;
  // absent is planned in experiment.json and nowhere else.
  std::string status = "done";
  std::string error;
  double final_acc = 0.8;
  double gap = 0.05;      // final train acc − final test acc (train acc = test acc + gap at every epoch)
  double eval_gap = 0.0;  // probe accuracy in train mode − in eval mode
  long diverged_at_step = 5;
  int epochs = 3;
  int epochs_done = 3;  // for running trials: epochs logged so far
  long steps_per_epoch = 10;

  double test_acc(int epoch) const;
  std::string id(const std::vector<std::string>& swept_keys) const;
};

struct RunFixture {
  std::filesystem::path dir;
  std::string name = "fixture";
  std::vector<std::string> swept_keys = {"train.optimizer.lr"};
  std::optional<double> target = 0.795;
  bool write_trials_csv = true;
  bool write_plan = true;  // experiment.json lists every planned trial (as the runner writes it)
  std::vector<FixtureTrial> trials;

  void write() const;
};

// The four variants of the seed article (plain, batchnorm, dropout 0.5, bn+dropout 0.2) over lr
// {0.01, 0.1, 1} and seeds {1, 2, 3}, with the values listed in run_fixture.cpp.
RunFixture bn_vs_dropout_fixture(const std::filesystem::path& dir);

std::string read_text(const std::filesystem::path& path);

}  // namespace bnlab::test
