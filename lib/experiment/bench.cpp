// Reference models and the timing loop of `bnlab bench`: median samples/s over rounds after a warm-up.
#include "experiment/bench.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/blas.hpp"
#include "core/blas_kernels.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "experiment/layer_factory.hpp"
#include "experiment/model_spec.hpp"
#include "experiment/percentiles.hpp"
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

// numpy.percentile's default, q in [0, 1], at the positions the layer probes' percentiles use; a sort is
// enough for a few rounds.
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const detail::RankPosition at = detail::rank_position(v.size(), q);
  return at.needs_next ? v[at.lo] + at.frac * (v[at.lo + 1] - v[at.lo]) : v[at.lo];
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

namespace {

// One reference model ready to time: built and initialized, with a fixed synthetic batch and SGD
// (momentum 0.9) as the trainer would run it.
class TimedModel {
 public:
  TimedModel(const BenchCase& c, const BenchOptions& options)
      : resolved_(resolve_layers(bench_model_layers(c.model), placeholders(c),
                                 normalize_init(json("pytorch"), "model.init"))),
        sample_(bench_model_input(c.model)),
        model_(build_model(resolved_, sample_)),
        optimizer_(model_.params(), sgd_options()) {
    model_.set_input_grad_needed(false);  // as the trainer does
    core::Rng rng(options.seed);
    model_.initialize(rng);
    Shape batch_shape{options.batch};
    batch_shape.insert(batch_shape.end(), sample_.begin(), sample_.end());
    images_ = Tensor(batch_shape);
    for (float* p = images_.data(); p != images_.data() + images_.size(); ++p) *p = rng.normal();
    labels_.resize(options.batch);
    for (std::size_t i = 0; i < options.batch; ++i) labels_[i] = static_cast<std::int32_t>(i % 10);
  }

  // forward + loss + backward + step in training mode.
  void train_step() {
    model_.set_mode(nn::Mode::Train);
    optimizer_.zero_grad();
    loss_.forward(model_.forward(images_), labels_);
    model_.backward(loss_.backward());
    optimizer_.step(0.01);  // small, so the synthetic batch never drives the model to NaN
  }
  // An eval-mode forward and loss.
  void infer_step() {
    model_.set_mode(nn::Mode::Eval);
    loss_.forward(model_.forward(images_), labels_);
  }
  double forward_macs_per_sample() const { return check_model(resolved_, sample_).flops_per_sample; }

 private:
  static PlaceholderFill placeholders(const BenchCase& c) {
    PlaceholderFill fill;
    fill.norm = c.norm;
    if (c.norm == "group") fill.groups = 8;
    fill.dropout = c.dropout ? 0.5 : 0.0;
    return fill;
  }
  static optim::SgdOptions sgd_options() {
    optim::SgdOptions sgd;
    sgd.momentum = 0.9;
    return sgd;
  }

  ResolvedLayers resolved_;
  Shape sample_;
  nn::Sequential model_;
  optim::Sgd optimizer_;
  nn::SoftmaxCrossEntropy loss_;
  Tensor images_;
  std::vector<std::int32_t> labels_;
};

// Seconds of each round for each model, after the warm-up. With two models the rounds alternate between
// them, and which one goes first alternates too, so a change in the machine's speed (other tenants of a VM)
// falls on both alike.
std::vector<std::vector<double>> timed_rounds(const std::vector<TimedModel*>& models, bool train,
                                              const BenchOptions& options) {
  auto step = [train](TimedModel& m) { train ? m.train_step() : m.infer_step(); };
  for (TimedModel* m : models)
    for (int i = 0; i < options.warmup_steps; ++i) step(*m);
  std::vector<std::vector<double>> seconds(models.size());
  for (int r = 0; r < options.rounds; ++r)
    for (std::size_t k = 0; k < models.size(); ++k) {
      const std::size_t which = (k + static_cast<std::size_t>(r)) % models.size();
      const auto start = std::chrono::steady_clock::now();
      for (int s = 0; s < options.steps; ++s) step(*models[which]);
      seconds[which].push_back(seconds_since(start));
    }
  return seconds;
}

double median_rate(const std::vector<double>& seconds, double samples) {
  std::vector<double> rates;
  for (double s : seconds) rates.push_back(samples / s);
  return median(rates);
}

// The median and the quartiles over rounds of (variant's time / plain model's time − 1).
struct PairedCost {
  double median;
  BenchResult::CostQuartiles quartiles;
};
PairedCost paired_cost(const std::vector<double>& variant, const std::vector<double>& plain) {
  std::vector<double> costs;
  for (std::size_t r = 0; r < variant.size(); ++r) costs.push_back(variant[r] / plain[r] - 1.0);
  return {median(costs), {quantile(costs, 0.25), quantile(costs, 0.75)}};
}

}  // namespace

BenchResult run_bench(const BenchCase& c, const BenchOptions& options) {
  if (options.batch < 2) throw ConfigError("--batch: must be at least 2 (batch norm needs two samples)");
  if (options.rounds < 1 || options.steps < 1 || options.threads < 1)
    throw ConfigError("bench: rounds, steps and threads must be positive");
  core::set_threads(options.threads);

  TimedModel model(c, options);
  std::optional<TimedModel> plain;
  std::vector<TimedModel*> models{&model};
  if (options.versus_plain && c.norm != "none") {
    plain.emplace(BenchCase{c.model, "none", c.dropout}, options);
    models.push_back(&*plain);
  }
  const auto train = timed_rounds(models, true, options);
  const auto infer = timed_rounds(models, false, options);

  BenchResult result;
  result.what = c;
  result.batch = options.batch;
  result.threads = options.threads;
  const double samples = static_cast<double>(options.batch) * options.steps;
  result.train_samples_per_s = median_rate(train[0], samples);
  result.infer_samples_per_s = median_rate(infer[0], samples);
  if (plain) {
    const PairedCost train_cost = paired_cost(train[0], train[1]),
                     infer_cost = paired_cost(infer[0], infer[1]);
    result.train_cost_vs_plain = train_cost.median;
    result.train_cost_quartiles = train_cost.quartiles;
    result.infer_cost_vs_plain = infer_cost.median;
    result.infer_cost_quartiles = infer_cost.quartiles;
  } else if (options.versus_plain) {
    // The plain model itself.
    result.train_cost_vs_plain = result.infer_cost_vs_plain = 0.0;
    result.train_cost_quartiles = result.infer_cost_quartiles = BenchResult::CostQuartiles{};
  }
  result.forward_macs_per_sample = model.forward_macs_per_sample();
  // A multiply-add is two flops; training costs about three forward passes (forward, dx, dW).
  result.train_gflops = result.train_samples_per_s * 3.0 * 2.0 * result.forward_macs_per_sample * 1e-9;
  result.infer_gflops = result.infer_samples_per_s * 2.0 * result.forward_macs_per_sample * 1e-9;
  result.peak_rss_mb = peak_rss_mb();
  result.blas_core = core::blas_core_name();
  return result;
}

json to_json(const BenchResult& r) {
  json out = {{"model", r.what.model},
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
  if (r.train_cost_vs_plain) out["train_cost_vs_plain"] = *r.train_cost_vs_plain;
  if (r.infer_cost_vs_plain) out["infer_cost_vs_plain"] = *r.infer_cost_vs_plain;
  if (r.train_cost_quartiles) {
    out["train_cost_vs_plain_q1"] = r.train_cost_quartiles->q1;
    out["train_cost_vs_plain_q3"] = r.train_cost_quartiles->q3;
  }
  if (r.infer_cost_quartiles) {
    out["infer_cost_vs_plain_q1"] = r.infer_cost_quartiles->q1;
    out["infer_cost_vs_plain_q3"] = r.infer_cost_quartiles->q3;
  }
  return out;
}

}  // namespace bnlab::experiment
