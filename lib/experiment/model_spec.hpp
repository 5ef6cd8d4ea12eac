// Builds an nn::Sequential from a resolved layer list of the config.
#pragma once

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"
#include "nn/sequential.hpp"

namespace bnlab::experiment {

// layers: resolved list (no placeholders), e.g. [{"type":"dense","units":256}, {"type":"batchnorm"}, ...].
// Throws bnlab::ConfigError naming "model.layers[i] (type)" for an unknown type, a bad setting or a
// shape that does not fit.
nn::Sequential build_model(const nlohmann::json& layers, const Shape& input);

// Multiply-accumulates of one forward pass for one sample (for cost estimates and benchmarks).
double forward_flops_per_sample(const nlohmann::json& layers, const Shape& input);

}  // namespace bnlab::experiment
