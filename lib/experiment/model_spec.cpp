// Model building from the config: placeholder resolution, per-layer validation, shape checks, cost.
#include "experiment/model_spec.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "experiment/config_reader.hpp"
#include "experiment/layer_factory.hpp"

namespace bnlab::experiment {

using nlohmann::json;

namespace {

std::string layer_path(std::size_t index) {
  return "model.layers[" + std::to_string(index) + "]";
}

std::string layer_label(const std::string& type, const std::string& placeholder) {
  return placeholder.empty() ? type : type + " from the " + placeholder + " placeholder";
}

// The "type" of a layer object, checked before a reader (which shows the type in messages) exists.
std::string type_of(const json& layer, const std::string& path) {
  if (!layer.is_object())
    throw KeyError(path, path +
                             ": expected a layer object such as {\"type\": \"dense\", \"units\": 10}, got " +
                             describe_json(layer));
  auto it = layer.find("type");
  if (it == layer.end()) throw KeyError(path + ".type", path + ".type: required but missing");
  if (!it->is_string())
    throw KeyError(path + ".type", path + ".type: expected a string, got " + describe_json(*it));
  return it->get<std::string>();
}

std::vector<std::string> accepted_types(bool with_placeholders) {
  std::vector<std::string> types = layer_types();
  if (with_placeholders) types.insert(types.end(), {"norm", "dropout"});
  return types;
}

// Validates one concrete layer and returns it with every setting filled in.
json normalize_layer(const json& layer, const std::string& type, const std::string& path,
                     const std::string& label, bool placeholders_allowed) {
  // An unknown type is reported without a label: "model.layers[1]: type: must be one of ...".
  KeyReader(layer, path).choice("type", kRequired, accepted_types(placeholders_allowed));
  KeyReader r(layer, path, label);
  r.string("type", kRequired);
  read_layer_settings(type, r);
  r.finish();
  return r.normalized();
}

bool is_placeholder(const std::string& type, const json& layer) {
  return type == "norm" || ((type == "dropout" || type == "dropout2d") && !layer.contains("rate"));
}

// {"type":"norm", ...own settings} → the variant's norm layer, keeping the settings that apply to it.
json concrete_norm(const json& placeholder, const PlaceholderFill& fill, const std::string& path) {
  KeyReader r(placeholder, path, "norm placeholder");
  r.string("type", kRequired);
  // Settings a norm placeholder may carry; each applies only to the norms that have it.
  const std::vector<std::pair<std::string, std::vector<std::string>>> settings = {
      {"eps", {"batch", "layer", "group"}}, {"affine", {"batch", "layer", "group"}}, {"momentum", {"batch"}},
      {"track_running_stats", {"batch"}},   {"per_channel_affine", {"layer"}},       {"groups", {"group"}}};
  json out = json::object();
  static const std::map<std::string, std::string> layer_of = {
      {"batch", "batchnorm"}, {"layer", "layernorm"}, {"group", "groupnorm"}};
  out["type"] = fill.norm == "none" ? "none" : layer_of.at(fill.norm);
  for (const auto& [key, norms] : settings) {
    const json* v = r.raw(key);
    if (v && std::find(norms.begin(), norms.end(), fill.norm) != norms.end()) out[key] = *v;
  }
  r.finish();
  if (fill.norm == "group" && !out.contains("groups")) {
    if (!fill.groups)
      throw KeyError(path, path + " (norm placeholder): a group norm needs \"groups\" from the variant");
    out["groups"] = *fill.groups;
  }
  return out;
}

struct BuiltLayer {
  json settings;
  Shape in, out;
};

nn::Sequential build(const ResolvedLayers& resolved, const Shape& input, std::vector<BuiltLayer>* record) {
  const json& layers = resolved.layers;
  if (!layers.is_array())
    throw KeyError("model.layers", "model.layers: expected a list, got " + describe_json(layers));
  if (resolved.origins.size() != layers.size())
    throw Error("build_model: " + std::to_string(layers.size()) + " layers but " +
                std::to_string(resolved.origins.size()) + " origins");
  for (auto d : input)
    if (d == 0) throw KeyError("model.input", "model.input: sizes must be positive, got " + to_string(input));
  nn::Sequential model(input);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerOrigin& origin = resolved.origins[i];
    const std::string path = layer_path(origin.index);
    const std::string type = type_of(layers[i], path);
    if (is_placeholder(type, layers[i]))
      throw KeyError(path,
                     path + ": the " + type + " placeholder must be resolved by a variant before building");
    const std::string label = layer_label(type, origin.placeholder);
    const json settings = normalize_layer(layers[i], type, path, label, false);
    const Shape in = model.output_sample_shape();
    try {
      auto layer = make_layer(settings, in);
      model.add(std::move(layer));
    } catch (const KeyError&) {
      throw;
    } catch (const Error& e) {
      throw KeyError(path, path + " (" + label + ") on per-sample input " + to_string(in) + ": " + e.what());
    }
    if (record) record->push_back({settings, in, model.output_sample_shape()});
  }
  return model;
}

ResolvedLayers as_resolved(const json& layers) {
  ResolvedLayers r;
  r.layers = layers;
  if (layers.is_array())
    for (std::size_t i = 0; i < layers.size(); ++i) r.origins.push_back({i, ""});
  return r;
}

}  // namespace

ResolvedLayers resolve_layers(const json& layers, const PlaceholderFill& fill, const json& init) {
  if (!layers.is_array())
    throw KeyError("model.layers", "model.layers: expected a list, got " + describe_json(layers));
  if (layers.empty()) throw KeyError("model.layers", "model.layers: the list is empty");
  ResolvedLayers out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string path = layer_path(i);
    const json& layer = layers[i];
    const std::string type = type_of(layer, path);
    json concrete;
    std::string placeholder;
    if (type == "norm") {
      ++out.norm_placeholders;
      concrete = concrete_norm(layer, fill, path);
      if (concrete["type"] == "none") continue;
      placeholder = "norm";
    } else if (is_placeholder(type, layer)) {
      ++out.dropout_placeholders;
      KeyReader r(layer, path, type + " placeholder");  // nothing but "type" (a "rate" makes a real layer)
      r.string("type", kRequired);
      r.finish();
      if (fill.dropout == 0.0) continue;
      concrete = {{"type", type}, {"rate", fill.dropout}};
      placeholder = "dropout";
    } else {
      concrete = layer;
    }
    const std::string concrete_type = concrete["type"].get<std::string>();
    json settings =
        normalize_layer(concrete, concrete_type, path, layer_label(concrete_type, placeholder), true);
    if ((concrete_type == "dense" || concrete_type == "conv2d") && !settings.contains("init"))
      settings["init"] = init;
    out.layers.push_back(std::move(settings));
    out.origins.push_back({i, placeholder});
  }
  return out;
}

nn::Sequential build_model(const json& layers, const Shape& input) {
  return build(as_resolved(layers), input, nullptr);
}

nn::Sequential build_model(const ResolvedLayers& layers, const Shape& input) {
  return build(layers, input, nullptr);
}

ModelCheck check_model(const ResolvedLayers& layers, const Shape& input) {
  std::vector<BuiltLayer> built;
  nn::Sequential model = build(layers, input, &built);
  ModelCheck check;
  check.parameters = model.parameter_count();
  for (const auto& b : built) check.flops_per_sample += layer_flops(b.settings, b.in, b.out);
  check.output = model.output_sample_shape();
  check.layers = model.describe();
  return check;
}

double forward_flops_per_sample(const json& layers, const Shape& input) {
  return check_model(as_resolved(layers), input).flops_per_sample;
}

}  // namespace bnlab::experiment
