// Layer types of the config: settings with defaults, construction from a per-sample input shape, cost.
#include "experiment/layer_factory.hpp"

#include <algorithm>
#include <functional>

#include "core/error.hpp"
#include "nn/avg_pool2d.hpp"
#include "nn/batch_norm.hpp"
#include "nn/conv2d.hpp"
#include "nn/dense.hpp"
#include "nn/dropout.hpp"
#include "nn/dropout2d.hpp"
#include "nn/flatten.hpp"
#include "nn/global_avg_pool.hpp"
#include "nn/group_norm.hpp"
#include "nn/init.hpp"
#include "nn/layer_norm.hpp"
#include "nn/leaky_relu.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "nn/sigmoid.hpp"
#include "nn/tanh.hpp"

namespace bnlab::experiment {

using nlohmann::json;

namespace {

const std::vector<std::string> kNonlinearities = {"linear", "sigmoid", "tanh", "relu", "leaky_relu"};

// kernel, stride, padding: one integer for a square, or [height, width].
void read_extent(KeyReader& r, const std::string& key, std::optional<json> fallback, long min) {
  const json* v = r.raw(key);
  if (!v) {
    if (!fallback) r.fail(key, "required but missing");
    r.store(key, *fallback);
    return;
  }
  auto ok = [min](const json& x) { return x.is_number_integer() && x.get<long>() >= min; };
  const bool valid = ok(*v) || (v->is_array() && v->size() == 2 && ok((*v)[0]) && ok((*v)[1]));
  if (!valid)
    r.fail(key, "expected an integer >= " + std::to_string(min) +
                    " or [height, width] of such integers, got " + describe_json(*v));
  r.store(key, *v);
}

nn::Extent2 extent_of(const json& v) {
  if (v.is_array()) return nn::Extent2(v[0].get<std::size_t>(), v[1].get<std::size_t>());
  return nn::Extent2(v.get<std::size_t>());
}

nn::InitSpec init_spec_of(const json& init) {
  nn::InitSpec spec;
  const std::string type = init.at("type").get<std::string>();
  spec.kind = type == "pytorch" ? nn::InitKind::Default : nn::init_kind_from_name(type);
  if (init.contains("std")) spec.std = init["std"].get<float>();
  if (init.contains("nonlinearity")) spec.nonlinearity = nn::nonlinearity_from_name(init["nonlinearity"]);
  if (init.contains("negative_slope")) spec.negative_slope = init["negative_slope"].get<float>();
  if (init.contains("mode")) spec.mode = init["mode"] == "fan_out" ? nn::FanMode::FanOut : nn::FanMode::FanIn;
  return spec;
}

void read_init(KeyReader& r) {
  if (const json* v = r.raw("init")) r.store("init", normalize_init(*v, r.key_path("init")));
}

void require_rank(const std::string& type, const Shape& in, std::size_t rank, const std::string& expected) {
  if (in.size() != rank)
    throw ShapeError(type + " needs a per-sample input of shape " + expected + ", got " + to_string(in));
}

double elements(const Shape& s) {
  return static_cast<double>(element_count(s));
}

void read_norm_common(KeyReader& r) {
  r.number("eps", 1e-5, Range::above(0));
  r.boolean("affine", true);
}

void read_batchnorm(KeyReader& r) {
  // Absent means PyTorch's 0.1; null means a cumulative average over all batches.
  const json* m = r.raw("momentum");
  if (!m) {
    r.store("momentum", 0.1);
  } else if (m->is_null()) {
    r.store("momentum", nullptr);
  } else {
    r.number("momentum", kRequired, Range::closed(0, 1));
  }
  read_norm_common(r);
  r.boolean("track_running_stats", true);
}

void read_pool(KeyReader& r) {
  read_extent(r, "kernel", json(2), 1);
  // PyTorch's pools default the stride to the kernel.
  read_extent(r, "stride", r.normalized()["kernel"], 1);
  read_extent(r, "padding", json(0), 0);
}

nn::Window2d window_of(const json& l) {
  return {extent_of(l["kernel"]), extent_of(l["stride"]), extent_of(l["padding"])};
}

struct LayerType {
  std::string name;
  std::function<void(KeyReader&)> read;
  std::function<std::unique_ptr<nn::Layer>(const json&, const Shape&)> make;
  std::function<double(const json&, const Shape&, const Shape&)> flops;
};

const std::vector<LayerType>& catalog() {
  auto elementwise = [](const json&, const Shape&, const Shape& out) { return elements(out); };
  auto no_settings = [](KeyReader&) {};
  auto pool_flops = [](const json& l, const Shape&, const Shape& out) {
    const nn::Extent2 k = extent_of(l["kernel"]);
    return elements(out) * static_cast<double>(k.h * k.w);
  };
  static const std::vector<LayerType> types = {
      {"flatten", no_settings,
       [](const json&, const Shape&) -> std::unique_ptr<nn::Layer> {
         return std::make_unique<nn::Flatten>();
       },
       [](const json&, const Shape&, const Shape&) { return 0.0; }},
      {"dense",
       [](KeyReader& r) {
         r.integer("units", kRequired, Range::at_least(1));
         r.boolean("bias", true);
         read_init(r);
       },
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         require_rank("dense", in, 1, "[features] (add a flatten layer before it)");
         auto d = std::make_unique<nn::Dense>(in[0], l["units"].get<std::size_t>(), l["bias"].get<bool>());
         if (l.contains("init")) d->set_init(init_spec_of(l["init"]));
         return d;
       },
       [](const json&, const Shape& in, const Shape& out) { return elements(in) * elements(out); }},
      {"conv2d",
       [](KeyReader& r) {
         r.integer("filters", kRequired, Range::at_least(1));
         read_extent(r, "kernel", std::nullopt, 1);
         read_extent(r, "stride", json(1), 1);
         read_extent(r, "padding", json(0), 0);
         r.boolean("bias", true);
         read_init(r);
       },
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         require_rank("conv2d", in, 3, "[channels, height, width]");
         auto c = std::make_unique<nn::Conv2d>(in[0], l["filters"].get<std::size_t>(), extent_of(l["kernel"]),
                                               extent_of(l["stride"]), extent_of(l["padding"]),
                                               l["bias"].get<bool>());
         if (l.contains("init")) c->set_init(init_spec_of(l["init"]));
         return c;
       },
       [](const json& l, const Shape& in, const Shape& out) {
         const nn::Extent2 k = extent_of(l["kernel"]);
         return elements(out) * static_cast<double>(in[0] * k.h * k.w);
       }},
      {"maxpool", read_pool,
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         require_rank("maxpool", in, 3, "[channels, height, width]");
         const nn::Window2d w = window_of(l);
         return std::make_unique<nn::MaxPool2d>(w.kernel, w.stride, w.padding);
       },
       pool_flops},
      {"avgpool", read_pool,
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         require_rank("avgpool", in, 3, "[channels, height, width]");
         const nn::Window2d w = window_of(l);
         return std::make_unique<nn::AvgPool2d>(w.kernel, w.stride, w.padding);
       },
       pool_flops},
      {"globalavgpool", no_settings,
       [](const json&, const Shape& in) -> std::unique_ptr<nn::Layer> {
         require_rank("globalavgpool", in, 3, "[channels, height, width]");
         return std::make_unique<nn::GlobalAvgPool>();
       },
       [](const json&, const Shape& in, const Shape&) { return elements(in); }},
      {"relu", no_settings,
       [](const json&, const Shape&) -> std::unique_ptr<nn::Layer> { return std::make_unique<nn::ReLU>(); },
       elementwise},
      {"leaky_relu", [](KeyReader& r) { r.number("slope", 0.01, Range::at_least(0)); },
       [](const json& l, const Shape&) -> std::unique_ptr<nn::Layer> {
         return std::make_unique<nn::LeakyReLU>(l["slope"].get<float>());
       },
       elementwise},
      {"sigmoid", no_settings,
       [](const json&, const Shape&) -> std::unique_ptr<nn::Layer> {
         return std::make_unique<nn::Sigmoid>();
       },
       elementwise},
      {"tanh", no_settings,
       [](const json&, const Shape&) -> std::unique_ptr<nn::Layer> { return std::make_unique<nn::Tanh>(); },
       elementwise},
      {"batchnorm", read_batchnorm,
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         if (in.empty() || in.size() > 3)
           throw ShapeError(
               "batchnorm needs a per-sample input [features], [channels, length] or [channels, "
               "height, width], got " +
               to_string(in));
         nn::BatchNormOptions o;
         o.eps = l["eps"].get<double>();
         o.momentum =
             l["momentum"].is_null() ? std::nullopt : std::optional<double>(l["momentum"].get<double>());
         o.affine = l["affine"].get<bool>();
         o.track_running_stats = l["track_running_stats"].get<bool>();
         // The input rank picks the variant, as choosing BatchNorm1d or BatchNorm2d does in PyTorch.
         if (in.size() == 3) return std::make_unique<nn::BatchNorm2d>(in[0], o);
         return std::make_unique<nn::BatchNorm1d>(in[0], o);
       },
       [](const json&, const Shape&, const Shape& out) { return 4 * elements(out); }},
      {"layernorm",
       [](KeyReader& r) {
         read_norm_common(r);
         r.boolean("per_channel_affine", false);
       },
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         nn::LayerNormOptions o;
         o.eps = l["eps"].get<double>();
         o.affine = l["affine"].get<bool>();
         o.per_channel_affine = l["per_channel_affine"].get<bool>();
         return std::make_unique<nn::LayerNorm>(in, o);
       },
       [](const json&, const Shape&, const Shape& out) { return 4 * elements(out); }},
      {"groupnorm",
       [](KeyReader& r) {
         r.integer("groups", kRequired, Range::at_least(1));
         read_norm_common(r);
       },
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         if (in.empty()) throw ShapeError("groupnorm needs a per-sample input [channels, ...], got []");
         const auto groups = l["groups"].get<std::size_t>();
         if (in[0] % groups != 0)
           throw ConfigError("groups " + std::to_string(groups) + " do not divide the " +
                             std::to_string(in[0]) + " input channels");
         nn::GroupNormOptions o;
         o.eps = l["eps"].get<double>();
         o.affine = l["affine"].get<bool>();
         return std::make_unique<nn::GroupNorm>(groups, in[0], o);
       },
       [](const json&, const Shape&, const Shape& out) { return 4 * elements(out); }},
      {"dropout", [](KeyReader& r) { r.number("rate", kRequired, Range::half_open(0, 1)); },
       [](const json& l, const Shape&) -> std::unique_ptr<nn::Layer> {
         return std::make_unique<nn::Dropout>(l["rate"].get<float>());
       },
       elementwise},
      {"dropout2d", [](KeyReader& r) { r.number("rate", kRequired, Range::half_open(0, 1)); },
       [](const json& l, const Shape& in) -> std::unique_ptr<nn::Layer> {
         require_rank("dropout2d", in, 3, "[channels, height, width] (use dropout on flat features)");
         return std::make_unique<nn::Dropout2d>(l["rate"].get<float>());
       },
       elementwise},
  };
  return types;
}

const LayerType& find_type(const std::string& name) {
  for (const auto& t : catalog())
    if (t.name == name) return t;
  throw ConfigError("unknown layer type \"" + name + "\"");
}

}  // namespace

json normalize_init(const json& init, const std::string& path) {
  const json object = init.is_string() ? json{{"type", init}} : init;
  if (!object.is_object())
    throw KeyError(path, path +
                             ": expected an init name such as \"kaiming_normal\" or an object such as "
                             "{\"type\": \"normal\", \"std\": 0.01}, got " +
                             describe_json(init));
  KeyReader r(object, path);
  std::string type = r.choice("type", kRequired,
                              {"pytorch", "default", "kaiming_normal", "kaiming_uniform", "xavier_normal",
                               "xavier_uniform", "normal"});
  if (type == "default") type = "pytorch";  // torch.nn.init's name for the layer's own rule
  r.store("type", type);
  const bool kaiming = type.rfind("kaiming", 0) == 0, xavier = type.rfind("xavier", 0) == 0;
  if (type == "normal")
    r.number("std", 0.01, Range::at_least(0));
  else
    r.reject("std", "only used by the normal init");
  if (kaiming || xavier) {
    // torch's defaults: Kaiming assumes a following ReLU, Xavier a linear layer (gain 1).
    const std::string nl = r.choice("nonlinearity", kaiming ? "relu" : "linear", kNonlinearities);
    if (nl == "leaky_relu")
      r.number("negative_slope", 0.01, Range::at_least(0));
    else
      r.reject("negative_slope", "only used with nonlinearity \"leaky_relu\"");
  } else {
    r.reject("nonlinearity", "only used by the kaiming_* and xavier_* inits");
    r.reject("negative_slope", "only used by the kaiming_* and xavier_* inits");
  }
  if (kaiming)
    r.choice("mode", "fan_in", {"fan_in", "fan_out"});
  else
    r.reject("mode", "only used by the kaiming_* inits");
  r.finish();
  return r.normalized();
}

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& t : catalog()) n.push_back(t.name);
    return n;
  }();
  return names;
}

void read_layer_settings(const std::string& type, KeyReader& reader) {
  find_type(type).read(reader);
}

std::unique_ptr<nn::Layer> make_layer(const json& layer, const Shape& sample_in) {
  return find_type(layer.at("type").get<std::string>()).make(layer, sample_in);
}

double layer_flops(const json& layer, const Shape& sample_in, const Shape& sample_out) {
  return find_type(layer.at("type").get<std::string>()).flops(layer, sample_in, sample_out);
}

}  // namespace bnlab::experiment
