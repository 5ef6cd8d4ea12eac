// Experiment configs: parsing, validation with key paths, variants × sweep × seeds → resolved trials.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"
#include "data/batcher.hpp"
#include "data/load.hpp"

namespace bnlab::experiment {

struct OptimizerSpec {
  std::string type = "sgd";  // sgd, adam, adamw
  double lr = 0.1, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false, exclude_norm_and_bias = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

struct ScheduleConfig {
  std::string type = "constant";  // constant, step, multistep, cosine
  double warmup_epochs = 0.0;
  double step_epochs = 1.0;          // step: decay every step_epochs epochs
  std::vector<double> milestones;    // multistep: epochs at which lr is multiplied by gamma
  double gamma = 0.1, min_lr = 0.0;  // cosine decays to min_lr
};

struct TrainSpec {
  int epochs = 1;
  std::size_t batch_size = 128;
  bool drop_last = false;  // defaults to true when the model contains a batch norm
  OptimizerSpec optimizer;
  ScheduleConfig schedule;
};

struct DataSpec {
  data::LoadOptions load;  // load.seed is the trial seed
  data::Augmentation augment;
  data::SyntheticOptions synthetic;  // used when load.dataset == "synthetic"
};

struct MetricsSpec {
  std::optional<double> target_accuracy;
  bool layer_stats = true;
  long log_every_steps = 50;
  std::size_t probe_samples = 256;    // fixed training subset for the probe batch and the BN eval gap
  double divergence_factor = 1000.0;  // diverged when loss > factor × initial loss (or NaN/inf)
};

struct TrialSpec {
  std::string id;       // stable and readable: "<variant>__<key>=<value>...__seed=<seed>", filesystem-safe
  std::string variant;  // variant name ("default" when the config has no variants)
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, nlohmann::json>> swept;  // dotted key → value, in sweep order
  nlohmann::json resolved;  // the whole trial config after variant, sweep and --set (written to config.json)
  DataSpec data;
  Shape input;            // per-sample input shape, e.g. {1, 28, 28}
  nlohmann::json layers;  // resolved layer list: norm/dropout placeholders replaced or removed
  TrainSpec train;
  MetricsSpec metrics;
  double expected_cost = 1.0;     // relative cost (epochs × samples × model size) for balancing shards
  std::size_t parameters = 0;     // learnable parameters of the model
  double flops_per_sample = 0.0;  // multiply-accumulates of one forward pass of one sample
};

struct Experiment {
  std::string name, description;
  nlohmann::json given;                 // the file as written, plus the --set overrides applied
  std::vector<std::string> swept_keys;  // dotted keys of the sweep, in config order
  std::vector<TrialSpec> trials;        // variants × sweep values × seeds, in that nesting order
  std::vector<std::string> variants;    // variant names, in config order
  std::size_t sweep_points = 1;         // combinations of sweep values
  std::vector<std::uint64_t> seeds;
};

// Reads, validates and plans a config file. Every problem throws bnlab::ConfigError whose message
// starts with the file and the dotted key path and, for an unknown key, suggests the closest valid one.
// overrides are --set arguments "KEY=VALUE" (VALUE parsed as JSON, else taken as a string); they apply to
// the file, win over variants and sweep values, and a swept key they set leaves the sweep.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});
Experiment parse_experiment(nlohmann::json config, const std::vector<std::string>& overrides = {},
                            const std::string& origin = "config");
// The same from JSON text (variants and sweep keys keep the text's order; nlohmann::json sorts keys).
// A syntax error names origin, line and column.
Experiment parse_experiment_text(const std::string& text, const std::vector<std::string>& overrides = {},
                                 const std::string& origin = "config");

// The trials of shard `index` of `count` (0-based), balanced by expected_cost; the union over all
// shards is every trial exactly once, and the assignment depends only on the trial list.
std::vector<TrialSpec> select_shard(const std::vector<TrialSpec>& trials, std::size_t index,
                                    std::size_t count);

}  // namespace bnlab::experiment
