// Weight initializers as in torch.nn.init (Kaiming, Xavier/Glorot, Normal) and the spec layers accept.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace bnlab::nn {

// The nonlinearity that follows a layer, which sets the gain that keeps activation variance stable.
enum class Nonlinearity { Linear, Sigmoid, Tanh, ReLU, LeakyReLU };

// torch.nn.init.calculate_gain: 1 for linear and sigmoid, 5/3 for tanh, √2 for relu,
// √(2 / (1 + slope²)) for leaky_relu.
float calculate_gain(Nonlinearity nonlinearity, float negative_slope = 0.01f);

// Fan-in and fan-out of a weight: [out, in] for dense, [out, in, kh, kw] for convolution, where each fan
// is multiplied by the receptive field kh·kw (as torch's _calculate_fan_in_and_fan_out).
struct Fans {
  std::size_t in = 0;
  std::size_t out = 0;
};
// Throws ShapeError for fewer than two dimensions, where fans are undefined.
Fans fans_of(const Shape& weight_shape);

// Kaiming uses fan-in (preserves forward variance) or fan-out (preserves backward variance).
enum class FanMode { FanIn, FanOut };

// N(0, gain² / fan) and U(−gain·√(3 / fan), +gain·√(3 / fan)).
void kaiming_normal(Tensor& w, Fans fans, core::Rng& rng, float gain, FanMode mode = FanMode::FanIn);
void kaiming_uniform(Tensor& w, Fans fans, core::Rng& rng, float gain, FanMode mode = FanMode::FanIn);
// N(0, gain² · 2 / (fan_in + fan_out)) and U(±gain·√(6 / (fan_in + fan_out))).
void xavier_normal(Tensor& w, Fans fans, core::Rng& rng, float gain = 1.0f);
void xavier_uniform(Tensor& w, Fans fans, core::Rng& rng, float gain = 1.0f);
// N(mean, std²); std must be non-negative.
void normal(Tensor& w, float std, core::Rng& rng, float mean = 0.0f);
// U(lo, hi).
void uniform(Tensor& w, float lo, float hi, core::Rng& rng);

enum class InitKind { Default, KaimingNormal, KaimingUniform, XavierNormal, XavierUniform, Normal };

// How Dense and Conv2d draw their weights. Default keeps PyTorch's layer default (weight and bias
// U(±1/√fan_in)); any other kind draws the weight as specified and zeroes the bias.
struct InitSpec {
  InitKind kind = InitKind::Default;
  float std = 0.01f;  // Normal only
  // Sets the gain. Unset means torch's defaults: relu (√2) for Kaiming, linear (1) for Xavier.
  std::optional<Nonlinearity> nonlinearity;
  float negative_slope = 0.01f;   // LeakyReLU only
  FanMode mode = FanMode::FanIn;  // Kaiming only
};

// Draws w according to spec (kind must not be Default: that is the layer's own rule).
void init_weight(Tensor& w, const InitSpec& spec, Fans fans, core::Rng& rng);

// Names as in torch.nn.init and configs: "default", "kaiming_normal", "kaiming_uniform", "xavier_normal",
// "xavier_uniform", "normal"; nonlinearities "linear", "sigmoid", "tanh", "relu", "leaky_relu".
// Unknown names throw ConfigError listing the accepted ones.
InitKind init_kind_from_name(const std::string& name);
std::string name_of(InitKind kind);
Nonlinearity nonlinearity_from_name(const std::string& name);
std::string name_of(Nonlinearity nonlinearity);

// The spec as a JSON object for describe(): only the fields that matter for its kind.
nlohmann::json describe(const InitSpec& spec);

}  // namespace bnlab::nn
