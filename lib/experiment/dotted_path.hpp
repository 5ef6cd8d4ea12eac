// Dotted key paths into a config ("train.optimizer.lr", "model.layers.2.units" or "model.layers[2].units").
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bnlab::experiment {

// One step of a path: an object key, or a list index. A bare number ("layers.2") is an index into a
// list and a key into an object; "[2]" is always an index.
struct PathStep {
  std::string key;
  bool numeric = false;    // the step is all digits, so it can index a list
  bool bracketed = false;  // written as [i]: only a list index
  std::size_t index = 0;   // valid when numeric or bracketed
};

// Throws ConfigError for an empty path, an empty step ("a..b") or a malformed index ("a[x]").
std::vector<PathStep> parse_path(const std::string& dotted);

// The form errors use: keys joined by '.', list indexes as [i] ("model.layers[2].units").
std::string display_path(const std::vector<PathStep>& steps);
std::string display_path(const std::string& dotted);

// True when `inner` is `outer` or lies below it ("train.optimizer.lr" within "train.optimizer").
bool path_within(const std::string& inner, const std::string& outer);

// Replaces the value at the path, creating missing objects on the way; a list index must exist.
// Throws KeyError naming the step that cannot be followed.
void set_path(nlohmann::json& root, const std::string& dotted, const nlohmann::json& value);

}  // namespace bnlab::experiment
