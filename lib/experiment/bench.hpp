// Training and inference throughput of the reference models of issue 6 (`bnlab bench`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"

namespace bnlab::experiment {

// One reference model in one variant.
struct BenchCase {
  std::string model;     // mlp, cnn or cifar-cnn
  std::string norm;      // none, batch, layer or group (8 groups)
  bool dropout = false;  // 0.5 where the model has a dropout position
};

struct BenchOptions {
  std::size_t batch = 128;
  int threads = 1;
  int rounds = 5;        // timed rounds; the median is reported
  int steps = 10;        // training steps (and eval forwards) per round
  int warmup_steps = 5;  // untimed steps first, so buffers are allocated and caches (and PyTorch's JIT) warm
  std::uint64_t seed = 1;
  // Also build the case's plain model (norm none, same dropout) and time the two in alternating rounds, so
  // the variant's cost over it is measured under the same machine conditions.
  bool versus_plain = false;
};

struct BenchResult {
  BenchCase what;
  std::size_t batch = 0;
  int threads = 0;
  double train_samples_per_s = 0.0, infer_samples_per_s = 0.0;  // medians over rounds
  double train_gflops = 0.0, infer_gflops = 0.0;                // achieved, from the median rates
  double forward_macs_per_sample = 0.0;                         // multiply-accumulates of one forward pass
  double peak_rss_mb = 0.0;  // of the whole process so far (getrusage ru_maxrss); both models when paired
  // With versus_plain: median over rounds of (variant's round time / plain model's round time − 1), e.g.
  // 0.08 = 8% slower than the plain model; 0 for a plain case.
  std::optional<double> train_cost_vs_plain, infer_cost_vs_plain;
  // With versus_plain: the 25th and 75th percentiles of those per-round costs, how far the rounds spread
  // around the median on a noisy machine (zeros for a plain case).
  struct CostQuartiles {
    double q1 = 0.0, q3 = 0.0;
  };
  std::optional<CostQuartiles> train_cost_quartiles, infer_cost_quartiles;
  std::string blas_core;  // OpenBLAS kernel family in use, e.g. "SkylakeX"
};

// Names accepted by bench_cases and the layer lists they stand for.
const std::vector<std::string>& bench_models();
// The model's layer list with norm/dropout placeholders, and its per-sample input shape.
nlohmann::json bench_model_layers(const std::string& model);
Shape bench_model_input(const std::string& model);

// Every combination of the named models, norms and dropout settings ("all" expands); throws ConfigError
// naming an unknown one.
std::vector<BenchCase> bench_cases(const std::string& model, const std::string& norm,
                                   const std::string& dropout);

// Builds the case's model, trains it on a fixed synthetic batch with SGD (momentum 0.9) and times
// forward + loss + backward + step, then eval-mode forwards (and the plain model alongside, versus_plain).
BenchResult run_bench(const BenchCase& c, const BenchOptions& options);

nlohmann::json to_json(const BenchResult& r);

}  // namespace bnlab::experiment
