// Text summary of a planned experiment, for `bnlab validate`.
#include "experiment/experiment_summary.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace bnlab::experiment {

using nlohmann::json;

namespace {

std::string with_separators(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string plural(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string extent(const json& e) {
  if (e.is_array()) return e[0].dump() + "x" + e[1].dump();
  return e.dump();
}

std::string megaflops(double flops) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", flops / 1e6);
  return buffer;
}

std::string layer_word(const json& l) {
  const std::string type = l.value("type", "?");
  if (type == "dense") return "dense " + l["units"].dump();
  if (type == "conv2d") return "conv2d " + l["filters"].dump() + " k" + extent(l["kernel"]);
  if (type == "maxpool" || type == "avgpool") return type + " " + extent(l["kernel"]);
  if (type == "groupnorm") return "groupnorm " + l["groups"].dump();
  if (type == "dropout" || type == "dropout2d") return type + " " + l["rate"].dump();
  if (type == "leaky_relu") return "leaky_relu " + l["slope"].dump();
  return type;
}

}  // namespace

std::string trial_count_line(const Experiment& e) {
  return plural(e.trials.size(), "trial") + " (" + plural(e.variants.size(), "variant") + " × " +
         plural(e.sweep_points, "sweep point") + " × " + plural(e.seeds.size(), "seed") + ")";
}

std::string layer_chain(const json& layers) {
  std::string out;
  for (const auto& l : layers) out += (out.empty() ? "" : " → ") + layer_word(l);
  return out;
}

std::string summarize_experiment(const Experiment& e) {
  std::ostringstream s;
  s << trial_count_line(e) << "\n";
  if (e.trials.empty()) return s.str();
  const TrialSpec& first = e.trials.front();
  const auto& load = first.data.load;
  s << "  data: " << load.dataset;
  if (load.train_limit) s << ", train_limit " << with_separators(*load.train_limit);
  if (load.test_limit) s << ", test_limit " << with_separators(*load.test_limit);
  if (load.validation_fraction > 0) s << ", validation " << load.validation_fraction;
  // Settings that differ between trials (swept or set per variant) show as "varies".
  auto common = [&](auto value_of) -> std::string {
    const json v = value_of(first);
    for (const auto& trial : e.trials)
      if (json(value_of(trial)) != v) return "varies";
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  const std::string epochs = common([](const TrialSpec& x) { return x.train.epochs; });
  s << "; train: " << epochs << (epochs == "1" ? " epoch" : " epochs") << " × batch "
    << common([](const TrialSpec& x) { return x.train.batch_size; }) << ", "
    << common([](const TrialSpec& x) { return x.train.optimizer.type; }) << " lr "
    << common([](const TrialSpec& x) { return x.train.optimizer.lr; }) << ", "
    << common([](const TrialSpec& x) { return x.train.schedule.type; }) << " schedule\n";
  if (!e.swept_keys.empty()) {
    s << "  sweep:";
    for (const auto& key : e.swept_keys) {
      std::vector<std::string> values;
      for (const auto& trial : e.trials)
        for (const auto& [k, v] : trial.swept)
          if (k == key && std::find(values.begin(), values.end(), v.dump()) == values.end())
            values.push_back(v.dump());
      s << " " << key << " ∈ {";
      for (std::size_t i = 0; i < values.size(); ++i) s << (i ? ", " : "") << values[i];
      s << "}";
    }
    s << "\n";
  }
  for (const auto& variant : e.variants) {
    std::size_t lo = SIZE_MAX, hi = 0;
    double flops = 0.0;
    const TrialSpec* shown = nullptr;
    for (const auto& trial : e.trials) {
      if (trial.variant != variant) continue;
      if (!shown) shown = &trial;
      lo = std::min(lo, trial.parameters);
      hi = std::max(hi, trial.parameters);
      flops = std::max(flops, trial.flops_per_sample);
    }
    if (!shown) continue;
    s << "  " << variant << ": " << layer_chain(shown->layers) << "\n    "
      << (lo == hi ? with_separators(lo) : with_separators(lo) + "–" + with_separators(hi)) << " parameters, "
      << megaflops(flops) << " M multiply-adds per sample\n";
  }
  return s.str();
}

}  // namespace bnlab::experiment
