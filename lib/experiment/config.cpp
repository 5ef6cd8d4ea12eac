// Config files → experiments: --set overrides, variants × sweep values × seeds, trial ids, shards.
#include "experiment/config.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "core/error.hpp"
#include "experiment/config_reader.hpp"
#include "experiment/config_text.hpp"
#include "experiment/dotted_path.hpp"
#include "experiment/plan_axes.hpp"
#include "experiment/trial_config.hpp"

namespace bnlab::experiment {

using nlohmann::json;

namespace {

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string file_stem(const std::string& origin) {
  std::string stem = origin.substr(origin.find_last_of('/') + 1);
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
  return stem;
}

std::string id_value(const json& v) {
  return sanitize_id(v.is_string() ? v.get<std::string>() : v.dump());
}

// A --set argument.
struct SetOverride {
  std::string key, display;
  json value;
};

SetOverride parse_set(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + arg + ": expected KEY=VALUE, e.g. --set train.epochs=3");
  SetOverride o;
  o.key = arg.substr(0, eq);
  try {
    o.display = display_path(o.key);
  } catch (const ConfigError& e) {
    throw ConfigError("--set " + arg + ": " + e.what());
  }
  const std::string text = arg.substr(eq + 1);
  o.value = json::parse(text, nullptr, false);
  if (o.value.is_discarded()) o.value = text;  // not JSON: a bare string such as mnist
  return o;
}

// Where a trial's value came from, so an error about it can say so. An error names a touched key when
// it lies at or below it, or (for a replaced value) when the touched key lies below the error's path.
struct Touch {
  std::string path, source;
  bool also_above = true;  // false for placeholder layers: only errors about that layer itself
};

// Any layer of the kind a variant's norm or dropout setting adds (a placeholder or a concrete layer).
bool model_has(const json& layers, const std::vector<std::string>& types) {
  if (!layers.is_array()) return false;
  return std::any_of(layers.begin(), layers.end(), [&](const json& l) {
    return l.is_object() && l.contains("type") && l["type"].is_string() && contains(types, l["type"]);
  });
}

struct Plan {
  std::string origin;
  std::vector<SetOverride> sets;
  std::vector<SweepKey> sweep;
  std::vector<std::uint64_t> seeds;
  json base;
};

void plan_combo(const Plan& plan, const Variant& variant, const std::vector<std::size_t>& pick,
                std::vector<TrialSpec>& trials) {
  json config = plan.base;
  PlaceholderFill fill = variant.fill;
  std::vector<Touch> touched;
  std::vector<std::pair<std::string, json>> swept;
  auto apply = [&](const std::string& key, const json& value, const std::string& source) {
    try {
      set_path(config, key, value);
    } catch (const KeyError& e) {
      throw KeyError(e.path, std::string(e.what()) + " (" + source + ")");
    }
    touched.push_back({display_path(key), source});
  };
  for (const auto& [key, value] : variant.overrides) apply(key, value, "set by variants." + variant.name);
  for (std::size_t i = 0; i < plan.sweep.size(); ++i) {
    const SweepKey& s = plan.sweep[i];
    const json& value = s.values[pick[i]];
    swept.emplace_back(s.key, value);
    if (!s.variant_level) {
      apply(s.key, value, "swept by sweep." + s.key + " = " + value.dump());
    } else if (s.key == "norm") {
      fill.norm = value.get<std::string>();
    } else if (s.key == "groups") {
      fill.groups = value.get<long>();
    } else {
      fill.dropout = value.get<double>();
    }
  }
  for (const auto& s : plan.sets)
    if (contains(kTrialSections, path_root(s.key))) apply(s.key, s.value, "set by --set");
  const bool fill_swept =
      std::any_of(plan.sweep.begin(), plan.sweep.end(), [](const SweepKey& k) { return k.variant_level; });
  const std::string by_variant = "filled by variants." + variant.name + (fill_swept ? " and the sweep" : "");
  TrialConfig tc;
  try {
    const json& layers =
        config.contains("model") && config["model"].is_object() && config["model"].contains("layers")
            ? config["model"]["layers"]
            : json();
    if (layers.is_array())
      for (std::size_t i = 0; i < layers.size(); ++i) {
        const json& l = layers[i];
        const bool filled = (model_has(json::array({l}), {"norm"}) && fill.norm != "none") ||
                            (model_has(json::array({l}), {"dropout", "dropout2d"}) && !l.contains("rate") &&
                             fill.dropout > 0);
        if (filled) touched.push_back({"model.layers[" + std::to_string(i) + "]", by_variant, false});
      }
    // A variant norm or dropout that no layer takes would give a trial identical to another.
    static const std::map<std::string, std::string> norm_layer = {
        {"batch", "batchnorm"}, {"layer", "layernorm"}, {"group", "groupnorm"}};
    if (variant.fill.norm != "none" && !model_has(layers, {"norm", norm_layer.at(variant.fill.norm)}))
      throw KeyError("variants." + variant.name + ".norm",
                     "variants." + variant.name + ".norm: \"" + variant.fill.norm +
                         "\" has no effect: model.layers has no {\"type\": \"norm\"} placeholder (nor a " +
                         norm_layer.at(variant.fill.norm) + " layer)");
    if (variant.fill.dropout > 0 && !model_has(layers, {"dropout", "dropout2d"}))
      throw KeyError("variants." + variant.name + ".dropout",
                     "variants." + variant.name +
                         ".dropout: has no effect: model.layers has no {\"type\": \"dropout\"} placeholder");
    tc = read_trial_config(config, fill);
  } catch (const KeyError& e) {
    for (auto t = touched.rbegin(); t != touched.rend(); ++t)
      if (!e.path.empty() &&
          (path_within(e.path, t->path) || (t->also_above && path_within(t->path, e.path))))
        throw KeyError(e.path, std::string(e.what()) + " (" + t->source + ")");
    throw;
  }

  json swept_object = json::object();
  for (const auto& [key, value] : swept) swept_object[key] = value;
  std::string stem = sanitize_id(variant.name);
  for (std::size_t i = 0; i < plan.sweep.size(); ++i)
    stem += "__" + plan.sweep[i].short_name + "=" + id_value(swept[i].second);
  for (std::uint64_t seed : plan.seeds) {
    TrialSpec t;
    t.id = stem + "__seed=" + std::to_string(seed);
    t.variant = variant.name;
    t.seed = seed;
    t.swept = swept;
    t.data = tc.data;
    t.data.load.seed = seed;
    t.input = tc.input;
    t.layers = tc.layers.layers;
    t.train = tc.train;
    t.metrics = tc.metrics;
    t.parameters = tc.model.parameters;
    t.flops_per_sample = tc.model.flops_per_sample;
    t.expected_cost = std::max(1.0, t.train.epochs * tc.train_samples * tc.model.flops_per_sample);
    t.resolved = tc.normalized;
    t.resolved["seeds"] = {seed};
    json trial = {{"id", t.id},        {"variant", t.variant},   {"seed", seed}, {"swept", swept_object},
                  {"norm", fill.norm}, {"dropout", fill.dropout}};
    if (fill.norm == "group") trial["groups"] = *fill.groups;
    t.resolved["trial"] = trial;
    trials.push_back(std::move(t));
  }
}

Experiment plan_experiment(json config, const std::vector<std::string>& overrides, const std::string& origin,
                           const std::vector<std::string>& variant_order,
                           const std::vector<std::string>& sweep_order) {
  Experiment exp;
  try {
    if (!config.is_object())
      throw KeyError("", "expected a JSON object at the top level, got " + describe_json(config));
    Plan plan;
    plan.origin = origin;
    for (const auto& arg : overrides) plan.sets.push_back(parse_set(arg));
    for (const auto& s : plan.sets) {
      try {
        set_path(config, s.key, s.value);
      } catch (const KeyError& e) {
        throw KeyError(e.path, std::string(e.what()) + " (in --set " + s.key + ")");
      }
      // A swept key that --set fixes leaves the sweep (its trials would all be the same).
      if (config.contains("sweep") && config["sweep"].is_object()) {
        json& sweep = config["sweep"];
        for (auto it = sweep.begin(); it != sweep.end();) {
          bool same = false;
          try {
            same = display_path(it.key()) == s.display;
          } catch (const ConfigError&) {
          }
          it = same ? sweep.erase(it) : std::next(it);
        }
      }
    }
    exp.given = config;

    KeyReader top(config, "");
    exp.name = top.string("name", file_stem(origin));
    if (exp.name.empty() || exp.name == "." || exp.name == ".." ||
        !std::all_of(exp.name.begin(), exp.name.end(), filesystem_safe))
      top.fail("name", "names the run folder, so it may only use letters, digits and . _ + = , -; got \"" +
                           exp.name + "\"");
    exp.description = top.string("description", "");
    for (const auto& section : kTrialSections) top.raw(section);
    top.raw("trial");  // written into each trial's config.json; ignored when such a file is read back
    plan.seeds = read_seeds(top.raw("seeds"));
    const std::vector<Variant> variants = read_variants(top.raw("variants"), variant_order);
    plan.sweep = read_sweep(top.raw("sweep"), sweep_order);
    top.finish();

    plan.base = json::object();
    plan.base["name"] = exp.name;
    plan.base["description"] = exp.description;
    for (const auto& section : kTrialSections)
      if (config.contains(section)) plan.base[section] = config[section];

    exp.seeds = plan.seeds;
    for (const auto& v : variants) exp.variants.push_back(v.name);
    for (const auto& s : plan.sweep) {
      exp.swept_keys.push_back(s.key);
      exp.sweep_points *= s.values.size();
    }
    for (const auto& v : variants)
      for (std::size_t point = 0; point < exp.sweep_points; ++point) {
        // The last sweep key varies fastest.
        std::vector<std::size_t> pick(plan.sweep.size());
        std::size_t rest = point;
        for (std::size_t i = plan.sweep.size(); i-- > 0;) {
          pick[i] = rest % plan.sweep[i].values.size();
          rest /= plan.sweep[i].values.size();
        }
        plan_combo(plan, v, pick, exp.trials);
      }
    std::map<std::string, std::size_t> ids;
    for (std::size_t i = 0; i < exp.trials.size(); ++i)
      if (!ids.emplace(exp.trials[i].id, i).second)
        throw KeyError("sweep", "sweep: two trials get the same id \"" + exp.trials[i].id +
                                    "\"; use sweep values that differ in letters, digits or . _ + = , -");
  } catch (const ConfigError& e) {
    throw ConfigError(origin + ": " + e.what());
  }
  return exp;
}

}  // namespace

Experiment parse_experiment(json config, const std::vector<std::string>& overrides,
                            const std::string& origin) {
  return plan_experiment(std::move(config), overrides, origin, {}, {});
}

Experiment parse_experiment_text(const std::string& text, const std::vector<std::string>& overrides,
                                 const std::string& origin) {
  ConfigText parsed = parse_config_text(text, origin);
  return plan_experiment(std::move(parsed.config), overrides, origin, parsed.variant_order,
                         parsed.sweep_order);
}

Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_experiment_text(text.str(), overrides, path);
}

std::vector<TrialSpec> select_shard(const std::vector<TrialSpec>& trials, std::size_t index,
                                    std::size_t count) {
  if (count == 0 || index >= count)
    throw ConfigError("shard " + std::to_string(index) + " of " + std::to_string(count) +
                      ": the index must be below the number of shards (0-based)");
  // Longest processing time first onto the least-loaded shard: within 4/3 of the best balance, and
  // deterministic because ties go to the earlier trial and the lower shard.
  std::vector<std::size_t> order(trials.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return trials[a].expected_cost > trials[b].expected_cost;
  });
  std::vector<double> load(count, 0.0);
  std::vector<std::size_t> shard_of(trials.size());
  for (std::size_t i : order) {
    const std::size_t s = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    shard_of[i] = s;
    load[s] += trials[i].expected_cost;
  }
  std::vector<TrialSpec> out;
  for (std::size_t i = 0; i < trials.size(); ++i)
    if (shard_of[i] == index) out.push_back(trials[i]);
  return out;
}

}  // namespace bnlab::experiment
