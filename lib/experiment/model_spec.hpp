// Builds an nn::Sequential from a resolved layer list of the config.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"
#include "nn/sequential.hpp"

namespace bnlab::experiment {

// What a variant puts into the {"type":"norm"} and {"type":"dropout"} placeholders.
struct PlaceholderFill {
  std::string norm = "none";   // none (removes the placeholder), batch, layer or group
  std::optional<long> groups;  // group norm only
  double dropout = 0.0;        // 0 removes the placeholder
};

// Where a layer of a resolved list came from: its position in the config's list and, for a layer made
// from a placeholder, "norm" or "dropout". Errors name layers by it: "model.layers[3] (batchnorm from the
// norm placeholder)".
struct LayerOrigin {
  std::size_t index = 0;
  std::string placeholder;
};

struct ResolvedLayers {
  nlohmann::json layers = nlohmann::json::array();  // every layer with all its settings, defaults filled in
  std::vector<LayerOrigin> origins;                 // one per layer
  std::size_t norm_placeholders = 0, dropout_placeholders = 0;  // how many the config's list had
};

// Validates a config's layer list (types, keys, value types and ranges; errors name "model.layers[i]
// (type)") and replaces the placeholders by the variant's settings. init (normalized) goes into every
// dense and conv2d layer that does not name its own.
ResolvedLayers resolve_layers(const nlohmann::json& layers, const PlaceholderFill& fill,
                              const nlohmann::json& init);

// layers: resolved list (no placeholders), e.g. [{"type":"dense","units":256}, {"type":"batchnorm"}, ...].
// Throws bnlab::ConfigError naming "model.layers[i] (type)" for an unknown type, a bad setting or a
// shape that does not fit.
nn::Sequential build_model(const nlohmann::json& layers, const Shape& input);
// The same, naming each layer by where it came from in the config.
nn::Sequential build_model(const ResolvedLayers& layers, const Shape& input);

// What validating a model found: its size, cost and per-sample output shape.
struct ModelCheck {
  std::size_t parameters = 0;
  double flops_per_sample = 0.0;  // multiply-accumulates of one forward pass
  Shape output;
  nlohmann::json layers;  // Sequential::describe(): one {"name", "layer", "output"} per layer
};
// Builds the model once to check it; throws like build_model.
ModelCheck check_model(const ResolvedLayers& layers, const Shape& input);

// Multiply-accumulates of one forward pass for one sample (for cost estimates and benchmarks).
double forward_flops_per_sample(const nlohmann::json& layers, const Shape& input);

}  // namespace bnlab::experiment
