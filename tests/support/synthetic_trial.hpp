// Small trials on the synthetic dataset, fast enough for unit tests of the trainer and the runner.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "experiment/config.hpp"

namespace bnlab::test {

struct SyntheticTrialOptions {
  std::string norm = "none";  // none or batch
  double dropout = 0.0;
  double lr = 0.1;
  int epochs = 2;
  std::uint64_t seed = 1;
  bool layer_stats = true;
};

// A resolved TrialSpec: 4-class 8×8 synthetic images, flatten → dense 16 → [batchnorm] → relu →
// [dropout] → dense 4, SGD with momentum, batch 32.
experiment::TrialSpec synthetic_trial(const SyntheticTrialOptions& options = {});

// The same problem as an experiment config (for parse_experiment): variants plain and batchnorm,
// seeds 1 and 2, unless the caller edits the JSON.
nlohmann::json synthetic_config(int epochs = 2);

}  // namespace bnlab::test
