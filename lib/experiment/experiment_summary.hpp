// What `bnlab validate` prints for a valid config: trial counts and each variant's model at a glance.
#pragma once

#include <string>

#include "experiment/config.hpp"

namespace bnlab::experiment {

// "12 trials (4 variants × 1 sweep point × 3 seeds)".
std::string trial_count_line(const Experiment& experiment);

// One line per layer list: "dense 256 → batchnorm → relu → dense 10".
std::string layer_chain(const nlohmann::json& layers);

// Several lines: the count line, data and training settings, then per variant its layers, parameter
// count and forward cost (a range when the sweep changes the model).
std::string summarize_experiment(const Experiment& experiment);

}  // namespace bnlab::experiment
