// Reference models and the timing loop of `bnlab bench`: median samples/s over rounds after a warm-up.
#include "experiment/bench.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include "core/blas.hpp"
#include "core/blas_kernels.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "experiment/layer_factory.hpp"
#include "experiment/model_spec.hpp"
#include "nn/loss.hpp"
#include "optim/sgd.hpp"

namespace bnlab::experiment {

using json = nlohmann::json;

namespace {

json conv_block(int filters) {
  return json::array({{{"type", "conv2d"}, {"filters", filters}, {"kernel", 3}, {"padding", 1}},
                      {{"type", "norm"}},
                      {{"type", "relu"}},
                      {{"type", "maxpool"}, {"kernel", 2}}});
}

void append(json& list, const json& more) {
  for (const auto& l : more) list.push_back(l);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports kilobytes
}

std::vector<std::string> expand(const std::string& value, const std::vector<std::string>& allowed,
                                const std::string& option) {
  if (value == "all") return allowed;
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw ConfigError(option + ": unknown value \"" + value + "\" (expected " + list + " or all)");
  }
  return {value};
}

}  // namespace

const std::vector<std::string>& bench_models() {
  static const std::vector<std::string> names = {"mlp", "cnn", "cifar-cnn"};
  return names;
}

json bench_model_layers(const std::string& model) {
  json layers = json::array();
  if (model == "mlp") {
    layers.push_back({{"type", "flatten"}});
    for (int i = 0; i < 2; ++i)
      append(layers, json::array({{{"type", "dense"}, {"units", 256}},
                                  {{"type", "norm"}},
                                  {{"type", "relu"}},
                                  {{"type", "dropout"}}}));
    layers.push_back({{"type", "dense"}, {"units", 10}});
  } else if (model == "cnn") {
    append(layers, conv_block(32));
    append(layers, conv_block(64));
    append(layers, json::array({{{"type", "flatten"}},
                                {{"type", "dense"}, {"units", 128}},
                                {{"type", "norm"}},
                                {{"type", "relu"}},
                                {{"type", "dropout"}},
                                {{"type", "dense"}, {"units", 10}}}));
  } else if (model == "cifar-cnn") {
    for (int filters : {32, 64, 128}) append(layers, conv_block(filters));
    // No hidden dense layer: "dropout on" drops the flattened features before the classifier.
    append(layers,
           json::array({{{"type", "flatten"}}, {{"type", "dropout"}}, {{"type", "dense"}, {"units", 10}}}));
  } else {
    throw ConfigError("bench: unknown model \"" + model + "\"");
  }
  return layers;
}

Shape bench_model_input(const std::string& model) {
  if (model == "cifar-cnn") return {3, 32, 32};
  bench_model_layers(model);  // validates the name
  return {1, 28, 28};
}

std::vector<BenchCase> bench_cases(const std::string& model, const std::string& norm,
                                   const std::string& dropout) {
  const auto models = expand(model, bench_models(), "--model");
  const auto norms = expand(norm, {"none", "batch", "layer", "group"}, "--norm");
  const std::string drop = dropout == "both" ? "all" : dropout;
  const auto drops = expand(drop, {"off", "on"}, "--dropout");
  std::vector<BenchCase> cases;
  for (const auto& m : models)
    for (const auto& n : norms)
      for (const auto& d : drops) cases.push_back({m, n, d == "on"});
  return cases;
}

BenchResult run_bench(const BenchCase& c, const BenchOptions& options) {
  if (options.batch < 2) throw ConfigError("--batch: must be at least 2 (batch norm needs two samples)");
  if (options.rounds < 1 || options.steps < 1 || options.threads < 1)
    throw ConfigError("bench: rounds, steps and threads must be positive");
  core::set_threads(options.threads);

  PlaceholderFill fill;
  fill.norm = c.norm;
  if (c.norm == "group") fill.groups = 8;
  fill.dropout = c.dropout ? 0.5 : 0.0;
  const ResolvedLayers resolved =
      resolve_layers(bench_model_layers(c.model), fill, normalize_init(json("pytorch"), "model.init"));
  const Shape sample = bench_model_input(c.model);
  nn::Sequential model = build_model(resolved, sample);
  model.set_input_grad_needed(false);  // as the trainer does
  core::Rng rng(options.seed);
  model.initialize(rng);

  Shape batch_shape{options.batch};
  batch_shape.insert(batch_shape.end(), sample.begin(), sample.end());
  Tensor images(batch_shape);
  for (float* p = images.data(); p != images.data() + images.size(); ++p) *p = rng.normal();
  std::vector<std::int32_t> labels(options.batch);
  for (std::size_t i = 0; i < options.batch; ++i) labels[i] = static_cast<std::int32_t>(i % 10);

  optim::SgdOptions sgd;
  sgd.momentum = 0.9;
  optim::Sgd optimizer(model.params(), sgd);
  nn::SoftmaxCrossEntropy loss;
  const double lr = 0.01;  // small, so the synthetic batch never drives the model to NaN

  auto train_step = [&] {
    optimizer.zero_grad();
    loss.forward(model.forward(images), labels);
    model.backward(loss.backward());
    optimizer.step(lr);
  };
  auto infer_step = [&] { loss.forward(model.forward(images), labels); };

  model.set_mode(nn::Mode::Train);
  for (int i = 0; i < options.warmup_steps; ++i) train_step();
  std::vector<double> train_rates, infer_rates;
  const double samples = static_cast<double>(options.batch) * options.steps;
  for (int r = 0; r < options.rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < options.steps; ++s) train_step();
    train_rates.push_back(samples / seconds_since(start));
  }
  model.set_mode(nn::Mode::Eval);
  for (int i = 0; i < options.warmup_steps; ++i) infer_step();
  for (int r = 0; r < options.rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < options.steps; ++s) infer_step();
    infer_rates.push_back(samples / seconds_since(start));
  }

  BenchResult result;
  result.what = c;
  result.batch = options.batch;
  result.threads = options.threads;
  result.train_samples_per_s = median(train_rates);
  result.infer_samples_per_s = median(infer_rates);
  result.forward_macs_per_sample = check_model(resolved, sample).flops_per_sample;
  // A multiply-add is two flops; training costs about three forward passes (forward, dx, dW).
  result.train_gflops = result.train_samples_per_s * 3.0 * 2.0 * result.forward_macs_per_sample * 1e-9;
  result.infer_gflops = result.infer_samples_per_s * 2.0 * result.forward_macs_per_sample * 1e-9;
  result.peak_rss_mb = peak_rss_mb();
  result.blas_core = core::blas_core_name();
  return result;
}

json to_json(const BenchResult& r) {
  return {{"model", r.what.model},
          {"norm", r.what.norm},
          {"dropout", r.what.dropout},
          {"batch", r.batch},
          {"threads", r.threads},
          {"train_samples_per_s", r.train_samples_per_s},
          {"infer_samples_per_s", r.infer_samples_per_s},
          {"train_gflops", r.train_gflops},
          {"infer_gflops", r.infer_gflops},
          {"forward_macs_per_sample", r.forward_macs_per_sample},
          {"peak_rss_mb", r.peak_rss_mb},
          {"blas_core", r.blas_core}};
}

}  // namespace bnlab::experiment
