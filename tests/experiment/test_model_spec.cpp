// Model building from layer lists: every layer type, placeholders, init, shape errors naming the layer, cost.
#include "experiment/model_spec.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "nn/batch_norm.hpp"
#include "nn/conv2d.hpp"
#include "nn/dense.hpp"

using namespace bnlab;
using namespace bnlab::experiment;
using Catch::Contains;
using Catch::StartsWith;
using nlohmann::json;

namespace {

std::string build_error(const json& layers, const Shape& input) {
  try {
    build_model(layers, input);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

const json kPytorchInit = {{"type", "pytorch"}};

}  // namespace

TEST_CASE("model_spec/builds every layer type with the expected shapes", "[config][model_spec]") {
  const json layers = json::parse(R"([
    {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
    {"type": "batchnorm"}, {"type": "relu"},
    {"type": "maxpool", "kernel": 2},
    {"type": "conv2d", "filters": 6, "kernel": [3, 1], "bias": false},
    {"type": "groupnorm", "groups": 3}, {"type": "leaky_relu", "slope": 0.1},
    {"type": "avgpool", "kernel": 2, "stride": 1},
    {"type": "dropout2d", "rate": 0.1},
    {"type": "layernorm"},
    {"type": "globalavgpool"},
    {"type": "dense", "units": 5}, {"type": "batchnorm", "momentum": null}, {"type": "tanh"},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "units": 3}, {"type": "sigmoid"},
    {"type": "flatten"}
  ])");
  nn::Sequential model = build_model(layers, {2, 8, 8});
  REQUIRE(model.size() == layers.size());
  CHECK(model.output_sample_shape() == Shape{3});
  CHECK(model.layer(1).type() == "batchnorm2d");
  CHECK(model.layer(12).type() == "batchnorm1d");
  const json described = model.describe();
  CHECK(described[3]["output"] == json({4, 4, 4}));  // 8×8 pooled by 2
  CHECK(described[4]["output"] == json({6, 2, 4}));  // 3×1 kernel, no padding
  CHECK(described[7]["output"] == json({6, 1, 3}));  // kernel 2, stride 1
  auto& bn = dynamic_cast<nn::BatchNorm&>(model.layer(12));
  CHECK_FALSE(bn.options().momentum);  // null: cumulative average
  auto& conv = dynamic_cast<nn::Conv2d&>(model.layer(4));
  CHECK(conv.weight.shape()[2] == 3);
  CHECK(conv.weight.shape()[3] == 1);
  // 2·4·9+4 (conv) + 8 (bn) + 4·6·3 (conv, no bias) + 12 (gn) + 6·1·3·2 (ln) + 6·5+5 + 10 (bn) + 5·3+3
  CHECK(model.parameter_count() == 76 + 8 + 72 + 12 + 36 + 35 + 10 + 18);
}

TEST_CASE("model_spec/shape errors name the layer", "[config][model_spec]") {
  CHECK(build_error(json::parse(R"([{"type": "dense", "units": 4}])"), {1, 4, 4}) ==
        "model.layers[0] (dense) on per-sample input [1, 4, 4]: dense needs a per-sample input of shape "
        "[features] (add a flatten layer before it), got [1, 4, 4]");
  CHECK_THAT(
      build_error(json::parse(R"([{"type": "flatten"}, {"type": "conv2d", "filters": 2, "kernel": 3}])"),
                  {1, 4, 4}),
      StartsWith("model.layers[1] (conv2d) on per-sample input [16]: conv2d needs a per-sample input of "
                 "shape [channels, height, width]"));
  CHECK_THAT(build_error(json::parse(R"([{"type": "conv2d", "filters": 2, "kernel": 5}])"), {1, 4, 4}),
             StartsWith("model.layers[0] (conv2d) on per-sample input [1, 4, 4]: "));
  CHECK_THAT(build_error(json::parse(R"([{"type": "maxpool", "kernel": 2, "padding": 2}])"), {1, 4, 4}),
             StartsWith("model.layers[0] (maxpool) on per-sample input [1, 4, 4]: "));
  CHECK(build_error(json::parse(R"([{"type": "groupnorm", "groups": 3}])"), {4, 2, 2}) ==
        "model.layers[0] (groupnorm) on per-sample input [4, 2, 2]: groups 3 do not divide the 4 input "
        "channels");
  CHECK_THAT(
      build_error(json::parse(R"([{"type": "flatten"}, {"type": "dropout2d", "rate": 0.1}])"), {1, 4, 4}),
      StartsWith("model.layers[1] (dropout2d) on per-sample input [16]"));
}

TEST_CASE("model_spec/setting errors name the layer and key", "[config][model_spec]") {
  CHECK(build_error(json::parse(R"([{"type": "dense", "unit": 4}])"), {4}) ==
        "model.layers[0] (dense): unit: unknown key; did you mean \"units\"?");
  CHECK(build_error(json::parse(R"([{"type": "dense"}])"), {4}) ==
        "model.layers[0] (dense): units: required but missing");
  CHECK(
      build_error(json::parse(R"([{"type": "conv2d", "filters": 2, "kernel": [3]}])"), {1, 4, 4}) ==
      "model.layers[0] (conv2d): kernel: expected an integer >= 1 or [height, width] of such integers, got a "
      "list ([3])");
  CHECK(build_error(json::parse(R"([{"type": "batchnorm", "momentum": 2}])"), {4}) ==
        "model.layers[0] (batchnorm): momentum: must be in [0, 1], got 2");
  CHECK(build_error(json::parse(R"([{"type": "dropout", "rate": -0.1}])"), {4}) ==
        "model.layers[0] (dropout): rate: must be in [0, 1), got -0.1");
  CHECK_THAT(build_error(json::parse(R"([{"type": "relu"}, {"type": "bachnorm"}])"), {4}),
             StartsWith("model.layers[1].type: must be one of flatten, dense, conv2d,"));
  CHECK_THAT(build_error(json::parse(R"([{"type": "relu"}, {"type": "bachnorm"}])"), {4}),
             Contains("(did you mean \"batchnorm\"?)"));
  CHECK(build_error(json::parse(R"([{"units": 3}])"), {4}) == "model.layers[0].type: required but missing");
  CHECK_THAT(build_error(json::parse(R"([3])"), {4}), StartsWith("model.layers[0]: expected a layer object"));
  CHECK(build_error(json::parse(R"([{"type": "norm"}])"), {4}) ==
        "model.layers[0]: the norm placeholder must be resolved by a variant before building");
}

TEST_CASE("model_spec/placeholders resolve to the variant's layers", "[config][model_spec]") {
  const json layers = json::parse(R"([
    {"type": "flatten"}, {"type": "dense", "units": 8}, {"type": "norm", "eps": 0.001}, {"type": "relu"},
    {"type": "dropout"}, {"type": "dense", "units": 2}])");
  const ResolvedLayers none = resolve_layers(layers, {}, kPytorchInit);
  CHECK(none.layers.size() == 4);
  CHECK(none.norm_placeholders == 1);
  CHECK(none.dropout_placeholders == 1);
  CHECK(none.origins[3].index == 5);  // errors name the config's position, not the resolved one

  PlaceholderFill fill;
  fill.norm = "group";
  fill.groups = 4;
  fill.dropout = 0.5;
  const ResolvedLayers gn = resolve_layers(layers, fill, kPytorchInit);
  REQUIRE(gn.layers.size() == 6);
  CHECK(gn.layers[2] == json({{"type", "groupnorm"}, {"groups", 4}, {"eps", 0.001}, {"affine", true}}));
  CHECK(gn.origins[2].placeholder == "norm");
  CHECK(gn.layers[4] == json({{"type", "dropout"}, {"rate", 0.5}}));
  CHECK(gn.origins[4].placeholder == "dropout");
  CHECK(build_model(gn, {1, 2, 2}).output_sample_shape() == Shape{2});

  fill.groups = 3;
  try {
    build_model(resolve_layers(layers, fill, kPytorchInit), {1, 2, 2});
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(),
               StartsWith("model.layers[2] (groupnorm from the norm placeholder) on per-sample input [8]"));
  }

  fill.norm = "batch";
  const ResolvedLayers bn = resolve_layers(layers, fill, kPytorchInit);
  CHECK(bn.layers[2] == json({{"type", "batchnorm"},
                              {"eps", 0.001},
                              {"momentum", 0.1},
                              {"affine", true},
                              {"track_running_stats", true}}));
  CHECK_THAT(build_error(json::parse(R"([{"type": "norm", "grups": 2}])"), {4}),
             Contains("the norm placeholder must be resolved"));
  CHECK_THROWS_WITH(resolve_layers(json::parse(R"([{"type": "norm", "grups": 2}])"), fill, kPytorchInit),
                    "model.layers[0] (norm placeholder): grups: unknown key; did you mean \"groups\"?");
  CHECK_THROWS_WITH(resolve_layers(json::array(), fill, kPytorchInit), "model.layers: the list is empty");
}

TEST_CASE("model_spec/init reaches dense and conv layers", "[config][model_spec]") {
  const json init = {{"type", "kaiming_normal"}, {"nonlinearity", "relu"}, {"mode", "fan_out"}};
  const json layers = json::parse(R"([
    {"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "flatten"},
    {"type": "dense", "units": 3, "init": {"type": "normal", "std": 0.5}}])");
  const ResolvedLayers resolved = resolve_layers(layers, {}, init);
  CHECK(resolved.layers[0]["init"] == init);
  nn::Sequential model = build_model(resolved, {1, 5, 5});
  const auto& conv = dynamic_cast<nn::Conv2d&>(model.layer(0));
  CHECK(conv.init().kind == nn::InitKind::KaimingNormal);
  CHECK(conv.init().mode == nn::FanMode::FanOut);
  const auto& dense = dynamic_cast<nn::Dense&>(model.layer(2));
  CHECK(dense.init().kind == nn::InitKind::Normal);
  CHECK(dense.init().std == Approx(0.5f));
  // The init is drawn when the model is initialized: std 0.5 gives a visibly wide spread.
  core::Rng rng(3);
  model.initialize(rng);
  const float spread = xt::amax(xt::abs(dense.weight))();
  CHECK(spread > 0.5f);
}

TEST_CASE("model_spec/forward cost per sample", "[config][model_spec]") {
  const json mlp = json::parse(R"([{"type": "flatten"}, {"type": "dense", "units": 256}, {"type": "relu"},
                                   {"type": "dense", "units": 10}])");
  CHECK(forward_flops_per_sample(mlp, {1, 28, 28}) == Approx(784.0 * 256 + 256 + 256.0 * 10));
  const json cnn = json::parse(R"([{"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1},
                                   {"type": "maxpool", "kernel": 2}, {"type": "flatten"},
                                   {"type": "dense", "units": 10}])");
  // conv: 8·28·28 outputs × 1·3·3; pool: 8·14·14 × 4; dense: 1568 × 10.
  CHECK(forward_flops_per_sample(cnn, {1, 28, 28}) == Approx(8.0 * 784 * 9 + 8.0 * 196 * 4 + 1568.0 * 10));
}
