// Config files → experiments: --set overrides, variants × sweep values × seeds, trial ids, shards.
#include "experiment/config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "experiment/config_reader.hpp"
#include "experiment/dotted_path.hpp"
#include "experiment/trial_config.hpp"

namespace bnlab::experiment {

using nlohmann::json;

namespace {

// Sections a variant, a sweep or a --set may change per trial.
const std::vector<std::string> kTrialSections = {"data", "model", "train", "metrics"};
// Variant-level settings that fill the placeholders.
const std::vector<std::string> kVariantKeys = {"norm", "groups", "dropout"};
const std::vector<std::string> kNorms = {"none", "batch", "layer", "group"};

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// The key order of "variants" and "sweep" as written (nlohmann::json sorts object keys).
struct KeyOrder {
  std::vector<std::string> variants, sweep;
};

std::vector<std::string> ordered_keys(const json& object, const std::vector<std::string>& order) {
  std::vector<std::string> keys;
  for (const auto& k : order)
    if (object.contains(k)) keys.push_back(k);
  for (auto it = object.begin(); it != object.end(); ++it)
    if (!contains(keys, it.key())) keys.push_back(it.key());
  return keys;
}

bool filesystem_safe(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string("._+=,-").find(c) != std::string::npos;
}

std::string sanitize(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!filesystem_safe(c)) c = '-';
  return out;
}

std::string file_stem(const std::string& origin) {
  std::string stem = origin.substr(origin.find_last_of('/') + 1);
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
  return stem;
}

std::string id_value(const json& v) {
  return sanitize(v.is_string() ? v.get<std::string>() : v.dump());
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

std::string root_of(const std::string& dotted) {
  return parse_path(dotted).front().key;
}

struct Variant {
  std::string name;
  PlaceholderFill fill;
  std::vector<std::pair<std::string, json>> overrides;  // dotted key → value
};

[[noreturn]] void unknown_root(const std::string& path, const std::string& root,
                               const std::vector<std::string>& valid) {
  const std::string guess = closest_match(root, valid);
  std::string list;
  for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
  throw KeyError(path, path + ": unknown key" +
                           (guess.empty() ? " (expected " + list + " or a dotted key below them)"
                                          : "; did you mean \"" + guess + "\"?"));
}

Variant read_variant(const std::string& name, const json& node) {
  const std::string path = "variants." + name;
  KeyReader r(node, path);
  Variant v;
  v.name = name;
  v.fill.norm = r.choice("norm", "none", kNorms);
  if (v.fill.norm == "group")
    v.fill.groups = r.integer("groups", kRequired, Range::at_least(1));
  else
    r.reject("groups", "only used with norm \"group\"");
  v.fill.dropout = r.number("dropout", 0.0, Range::half_open(0, 1));
  std::vector<std::string> roots = kVariantKeys;
  roots.insert(roots.end(), kTrialSections.begin(), kTrialSections.end());
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (contains(kVariantKeys, it.key())) continue;
    const std::string key_path = path + "." + it.key();
    std::string root;
    try {
      root = root_of(it.key());
    } catch (const ConfigError& e) {
      throw KeyError(key_path, key_path + ": " + e.what());
    }
    if (root == "name" || root == "description" || root == "seeds" || root == "sweep" || root == "variants")
      throw KeyError(key_path, key_path + ": \"" + root + "\" cannot be set per variant");
    if (!contains(kTrialSections, root)) unknown_root(key_path, root, roots);
    r.raw(it.key());
    v.overrides.emplace_back(it.key(), it.value());
  }
  r.finish();
  return v;
}

std::vector<Variant> read_variants(const json* node, const std::vector<std::string>& order) {
  if (!node) return {Variant{"default", {}, {}}};
  if (!node->is_object())
    throw KeyError("variants",
                   "variants: expected an object of named variants such as {\"plain\": {\"norm\": "
                   "\"none\"}, \"batchnorm\": {\"norm\": \"batch\"}}, got " +
                       describe_json(*node));
  if (node->empty())
    throw KeyError("variants", "variants: no variant defined (remove the key for a single run)");
  std::vector<Variant> variants;
  std::map<std::string, std::string> folder_names;
  for (const auto& name : ordered_keys(*node, order)) {
    if (name.empty()) throw KeyError("variants", "variants: a variant has an empty name");
    const auto [it, fresh] = folder_names.emplace(sanitize(name), name);
    if (!fresh)
      throw KeyError("variants." + name, "variants." + name + ": gives the same trial id as variants." +
                                             it->second + " (\"" + it->first + "\"); rename one of them");
    variants.push_back(read_variant(name, (*node)[name]));
  }
  return variants;
}

struct SweepKey {
  std::string key, display, short_name;
  std::vector<json> values;
  bool variant_level = false;  // norm, groups or dropout: fills the placeholders
};

// A sweep value of norm, groups or dropout, checked like the variant setting it replaces.
void check_variant_value(const std::string& key, const json& value, const std::string& path) {
  const json holder = {{key, value}};
  KeyReader r(holder, "");
  try {
    if (key == "norm")
      r.choice(key, kRequired, kNorms);
    else if (key == "groups")
      r.integer(key, kRequired, Range::at_least(1));
    else
      r.number(key, kRequired, Range::half_open(0, 1));
  } catch (const KeyError& e) {
    const std::string what = e.what();  // "dropout: must be in [0, 1), got 1.5"
    throw KeyError(path, path + what.substr(what.find(':')));
  }
}

// The shortest dotted suffix of each key that no other swept key shares ("lr" for train.optimizer.lr).
void assign_short_names(std::vector<SweepKey>& sweep) {
  std::vector<std::vector<std::string>> steps;
  for (const auto& s : sweep) {
    std::vector<std::string> names;
    for (const auto& p : parse_path(s.key))
      names.push_back(p.bracketed || p.numeric ? std::to_string(p.index) : p.key);
    steps.push_back(names);
  }
  auto suffix = [](const std::vector<std::string>& names, std::size_t n) {
    std::string out;
    for (std::size_t i = names.size() - std::min(n, names.size()); i < names.size(); ++i)
      out += (out.empty() ? "" : ".") + names[i];
    return out;
  };
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    for (std::size_t n = 1; n <= steps[i].size(); ++n) {
      const std::string candidate = suffix(steps[i], n);
      bool unique = true;
      for (std::size_t j = 0; j < sweep.size(); ++j)
        if (j != i && suffix(steps[j], n) == candidate) unique = false;
      if (unique || n == steps[i].size()) {
        sweep[i].short_name = sanitize(candidate);
        break;
      }
    }
  }
}

std::vector<SweepKey> read_sweep(const json* node, const std::vector<std::string>& order) {
  if (!node) return {};
  if (!node->is_object())
    throw KeyError("sweep",
                   "sweep: expected an object mapping dotted keys to value lists, such as "
                   "{\"train.optimizer.lr\": [0.01, 0.1]}, got " +
                       describe_json(*node));
  std::vector<std::string> roots = kVariantKeys;
  roots.insert(roots.end(), kTrialSections.begin(), kTrialSections.end());
  std::vector<SweepKey> sweep;
  for (const auto& key : ordered_keys(*node, order)) {
    const std::string path = "sweep." + key;
    SweepKey s;
    s.key = key;
    std::string root;
    try {
      s.display = display_path(key);
      root = root_of(key);
    } catch (const ConfigError& e) {
      throw KeyError(path, path + ": " + e.what());
    }
    if (root == "seeds") throw KeyError(path, path + ": seeds cannot be swept; list them in \"seeds\"");
    if (root == "variants" || root == "sweep" || root == "name" || root == "description")
      throw KeyError(path, path + ": \"" + root + "\" cannot be swept");
    s.variant_level = contains(kVariantKeys, key);
    if (!s.variant_level && !contains(kTrialSections, root)) unknown_root(path, root, roots);
    const json& values = (*node)[key];
    if (!values.is_array() || values.empty())
      throw KeyError(path, path + ": expected a non-empty list of values, got " + describe_json(values));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string value_path = path + "[" + std::to_string(i) + "]";
      for (std::size_t j = 0; j < i; ++j)
        if (values[j] == values[i])
          throw KeyError(value_path, value_path + ": duplicate value " + values[i].dump());
      if (s.variant_level) {
        check_variant_value(key, values[i], value_path);
      }
      s.values.push_back(values[i]);
    }
    for (const auto& earlier : sweep)
      if (path_within(s.display, earlier.display) || path_within(earlier.display, s.display))
        throw KeyError(
            path, path + ": overlaps sweep." + earlier.key + "; sweep a key or a key inside it, not both");
    sweep.push_back(std::move(s));
  }
  assign_short_names(sweep);
  return sweep;
}

std::vector<std::uint64_t> read_seeds(const json* node) {
  if (!node) return {1};
  const bool valid = node->is_array() && std::all_of(node->begin(), node->end(), [](const json& s) {
                       return s.is_number_integer() && s.get<long long>() >= 0;
                     });
  if (!valid)
    throw KeyError("seeds", "seeds: expected a list of non-negative integers such as [1, 2, 3], got " +
                                describe_json(*node));
  if (node->empty()) throw KeyError("seeds", "seeds: the list is empty; give at least one seed");
  std::vector<std::uint64_t> seeds;
  for (const auto& s : *node) {
    const auto seed = s.get<std::uint64_t>();
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end())
      throw KeyError("seeds", "seeds: " + std::to_string(seed) + " is listed twice");
    seeds.push_back(seed);
  }
  return seeds;
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
    if (contains(kTrialSections, root_of(s.key))) apply(s.key, s.value, "set by --set");
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
  std::string stem = sanitize(variant.name);
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
                           const KeyOrder& order) {
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
    const std::vector<Variant> variants = read_variants(top.raw("variants"), order.variants);
    plan.sweep = read_sweep(top.raw("sweep"), order.sweep);
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

// 1-based line and column of a byte offset, for JSON syntax errors.
std::pair<std::size_t, std::size_t> line_and_column(const std::string& text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// nlohmann keeps the last of two equal keys; in a config that silently drops a setting, so the parse
// records the first duplicate with its path.
class DuplicateKeyFinder {
 public:
  bool operator()(int /*depth*/, nlohmann::ordered_json::parse_event_t event,
                  nlohmann::ordered_json& parsed) {
    using Event = nlohmann::ordered_json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        frames_.push_back({event == Event::array_start, {}, "", 0});
        break;
      case Event::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second && duplicate_.empty()) duplicate_ = path() + f.key;
        break;
      }
      case Event::value:
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
        break;
      case Event::object_end:
      case Event::array_end:
        frames_.pop_back();
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
        break;
    }
    return true;
  }
  const std::string& duplicate() const { return duplicate_; }

 private:
  struct Frame {
    bool array;
    std::set<std::string> keys;
    std::string key;
    std::size_t index;
  };
  // The path of the innermost object, ending in '.' when not at the top ("train.optimizer.").
  std::string path() const {
    std::string p;
    for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
      if (frames_[i].array)
        p += "[" + std::to_string(frames_[i].index) + "]";
      else
        p += (p.empty() ? "" : ".") + frames_[i].key;
    }
    return p.empty() ? p : p + ".";
  }
  std::vector<Frame> frames_;
  std::string duplicate_;
};

}  // namespace

Experiment parse_experiment(json config, const std::vector<std::string>& overrides,
                            const std::string& origin) {
  return plan_experiment(std::move(config), overrides, origin, {});
}

Experiment parse_experiment_text(const std::string& text, const std::vector<std::string>& overrides,
                                 const std::string& origin) {
  nlohmann::ordered_json ordered;
  DuplicateKeyFinder duplicates;
  try {
    ordered = nlohmann::ordered_json::parse(text, std::ref(duplicates));
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte counts the characters read, the offending one included.
    const auto [line, column] = line_and_column(text, e.byte == 0 ? 0 : e.byte - 1);
    std::string reason = e.what();
    const auto column_at = reason.find("column ");
    const auto colon = column_at == std::string::npos ? reason.find("] ") : reason.find(": ", column_at);
    if (colon != std::string::npos) reason = reason.substr(colon + 2);
    throw ConfigError(origin + ": line " + std::to_string(line) + ", column " + std::to_string(column) +
                      ": invalid JSON: " + reason);
  }
  if (!duplicates.duplicate().empty())
    throw ConfigError(origin + ": " + duplicates.duplicate() + ": the key appears twice in the same object");
  KeyOrder order;
  if (ordered.is_object()) {
    for (const char* section : {"variants", "sweep"}) {
      auto it = ordered.find(section);
      if (it == ordered.end() || !it->is_object()) continue;
      auto& keys = std::string(section) == "variants" ? order.variants : order.sweep;
      for (auto k = it->begin(); k != it->end(); ++k) keys.push_back(k.key());
    }
  }
  return plan_experiment(json::parse(text), overrides, origin, order);
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
