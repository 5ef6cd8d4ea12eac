// The axes of an experiment's plan, read from the config: variants, sweep keys with their values, seeds.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment/model_spec.hpp"

namespace bnlab::experiment {

// Sections a variant, a sweep value or a --set may change per trial.
inline const std::vector<std::string> kTrialSections = {"data", "model", "train", "metrics"};
// Variant-level settings that fill the placeholders; they can be swept too.
inline const std::vector<std::string> kVariantKeys = {"norm", "groups", "dropout"};

// Letters, digits and . _ + = , - : what trial ids and run names may hold.
bool filesystem_safe(char c);
// Replaces every other character by '-'.
std::string sanitize_id(const std::string& s);
// The first step of a dotted path ("train" for "train.optimizer.lr").
std::string path_root(const std::string& dotted);

struct Variant {
  std::string name;
  PlaceholderFill fill;
  std::vector<std::pair<std::string, nlohmann::json>> overrides;  // dotted key → value
};

struct SweepKey {
  std::string key, display, short_name;  // as written, as errors show it, as trial ids show it
  std::vector<nlohmann::json> values;
  bool variant_level = false;  // norm, groups or dropout: fills the placeholders
};

// node: the config's "variants" (nullptr when absent: one variant "default"); order: the key order of
// the file, since nlohmann::json sorts keys (names not in it follow in sorted order).
std::vector<Variant> read_variants(const nlohmann::json* node, const std::vector<std::string>& order);
// node: the config's "sweep" (nullptr when absent: no sweep), keys in `order` first.
std::vector<SweepKey> read_sweep(const nlohmann::json* node, const std::vector<std::string>& order);
// node: the config's "seeds" (nullptr when absent: [1]).
std::vector<std::uint64_t> read_seeds(const nlohmann::json* node);

}  // namespace bnlab::experiment
