// Variants, sweep keys and seeds: checked one by one, with errors naming the key path.
#include "experiment/plan_axes.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.hpp"
#include "experiment/config_reader.hpp"
#include "experiment/dotted_path.hpp"

namespace bnlab::experiment {

using nlohmann::json;

namespace {

const std::vector<std::string> kNorms = {"none", "batch", "layer", "group"};

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::vector<std::string> ordered_keys(const json& object, const std::vector<std::string>& order) {
  std::vector<std::string> keys;
  for (const auto& k : order)
    if (object.contains(k)) keys.push_back(k);
  for (auto it = object.begin(); it != object.end(); ++it)
    if (!contains(keys, it.key())) keys.push_back(it.key());
  return keys;
}

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
      root = path_root(it.key());
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
        sweep[i].short_name = sanitize_id(candidate);
        break;
      }
    }
  }
}

}  // namespace

bool filesystem_safe(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string("._+=,-").find(c) != std::string::npos;
}

std::string sanitize_id(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!filesystem_safe(c)) c = '-';
  return out;
}

std::string path_root(const std::string& dotted) {
  return parse_path(dotted).front().key;
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
    const auto [it, fresh] = folder_names.emplace(sanitize_id(name), name);
    if (!fresh)
      throw KeyError("variants." + name, "variants." + name + ": gives the same trial id as variants." +
                                             it->second + " (\"" + it->first + "\"); rename one of them");
    variants.push_back(read_variant(name, (*node)[name]));
  }
  return variants;
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
      root = path_root(key);
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

}  // namespace bnlab::experiment
