// One trial's configuration (after variant, sweep values and --set): every section validated, defaults
// filled in, the model built once to check its shapes.
#pragma once

#include <nlohmann/json.hpp>

#include "experiment/config.hpp"
#include "experiment/model_spec.hpp"

namespace bnlab::experiment {

struct TrialConfig {
  nlohmann::json normalized;  // name, description, data, model (layers resolved), train, metrics
  DataSpec data;              // load.seed is left 0: the plan sets the trial seed
  Shape input;
  ResolvedLayers layers;
  TrainSpec train;
  MetricsSpec metrics;
  ModelCheck model;
  double train_samples = 0.0;  // expected training-set size (after limit and validation split)
};

// config holds name, description, data, model, train and metrics; problems throw KeyError (a
// ConfigError) naming the key path.
TrialConfig read_trial_config(const nlohmann::json& config, const PlaceholderFill& fill);

}  // namespace bnlab::experiment
