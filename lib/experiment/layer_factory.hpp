// The layer types a config can name: their settings and defaults, how each is built, what it costs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"
#include "experiment/config_reader.hpp"
#include "nn/layer.hpp"

namespace bnlab::experiment {

// Validates an init setting (a name such as "kaiming_normal", or an object such as
// {"type":"normal","std":0.01}) and returns it as an object with every field its kind uses; path names
// it in errors ("model.init", "model.layers[0].init").
nlohmann::json normalize_init(const nlohmann::json& init, const std::string& path);

// Every type name a resolved layer list may hold, in documentation order.
const std::vector<std::string>& layer_types();

// Reads the settings of a layer whose "type" is one of layer_types() (the reader is over the layer's
// object, carries its name and has read "type"); each setting lands in reader.normalized() with its
// default.
void read_layer_settings(const std::string& type, KeyReader& reader);

// Builds a layer from normalized settings for a per-sample input shape (no batch dimension). Throws
// ShapeError (or ConfigError) saying what does not fit; the caller adds the layer's name.
std::unique_ptr<nn::Layer> make_layer(const nlohmann::json& layer, const Shape& sample_in);

// Multiply-accumulates per sample of the layer's forward pass (elementwise layers count one per element,
// normalizations four: statistics and the affine map).
double layer_flops(const nlohmann::json& layer, const Shape& sample_in, const Shape& sample_out);

}  // namespace bnlab::experiment
