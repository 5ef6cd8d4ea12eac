// Initializer formulas, gains and name lookups, following torch.nn.init.
#include "nn/init.hpp"

#include <cmath>

#include "core/error.hpp"

namespace bnlab::nn {

namespace {

std::size_t checked_fan(const char* initializer, const char* which, std::size_t fan) {
  if (fan == 0)
    throw ShapeError(std::string(initializer) + ": " + which + " is 0 (the weight has no inputs or outputs)");
  return fan;
}

std::size_t kaiming_fan(const char* initializer, Fans fans, FanMode mode) {
  return mode == FanMode::FanIn ? checked_fan(initializer, "fan_in", fans.in)
                                : checked_fan(initializer, "fan_out", fans.out);
}

std::size_t xavier_fan_sum(const char* initializer, Fans fans) {
  return checked_fan(initializer, "fan_in", fans.in) + checked_fan(initializer, "fan_out", fans.out);
}

}  // namespace

float calculate_gain(Nonlinearity nonlinearity, float negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid:
      return 1.0f;
    case Nonlinearity::Tanh:
      return 5.0f / 3.0f;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0f);
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0f / (1.0f + negative_slope * negative_slope));
  }
  return 1.0f;
}

Fans fans_of(const Shape& weight_shape) {
  if (weight_shape.size() < 2)
    throw ShapeError("fan in and fan out need a weight with at least 2 dimensions, got " +
                     to_string(weight_shape));
  std::size_t receptive_field = 1;
  for (std::size_t i = 2; i < weight_shape.size(); ++i) receptive_field *= weight_shape[i];
  return {weight_shape[1] * receptive_field, weight_shape[0] * receptive_field};
}

void kaiming_normal(Tensor& w, Fans fans, core::Rng& rng, float gain, FanMode mode) {
  const std::size_t fan = kaiming_fan("kaiming_normal", fans, mode);
  normal(w, gain / std::sqrt(static_cast<float>(fan)), rng);
}

void kaiming_uniform(Tensor& w, Fans fans, core::Rng& rng, float gain, FanMode mode) {
  const std::size_t fan = kaiming_fan("kaiming_uniform", fans, mode);
  const float bound = gain * std::sqrt(3.0f / static_cast<float>(fan));
  uniform(w, -bound, bound, rng);
}

void xavier_normal(Tensor& w, Fans fans, core::Rng& rng, float gain) {
  const std::size_t sum = xavier_fan_sum("xavier_normal", fans);
  normal(w, gain * std::sqrt(2.0f / static_cast<float>(sum)), rng);
}

void xavier_uniform(Tensor& w, Fans fans, core::Rng& rng, float gain) {
  const std::size_t sum = xavier_fan_sum("xavier_uniform", fans);
  const float bound = gain * std::sqrt(6.0f / static_cast<float>(sum));
  uniform(w, -bound, bound, rng);
}

void normal(Tensor& w, float std, core::Rng& rng, float mean) {
  if (!(std >= 0.0f)) throw ConfigError("normal init: std must be >= 0, got " + std::to_string(std));
  float* p = w.data();
  const std::size_t n = w.size();
  for (std::size_t i = 0; i < n; ++i) p[i] = rng.normal(mean, std);
}

void uniform(Tensor& w, float lo, float hi, core::Rng& rng) {
  float* p = w.data();
  const std::size_t n = w.size();
  for (std::size_t i = 0; i < n; ++i) p[i] = rng.uniform(lo, hi);
}

void init_weight(Tensor& w, const InitSpec& spec, Fans fans, core::Rng& rng) {
  const auto gain_or = [&](Nonlinearity fallback) {
    return calculate_gain(spec.nonlinearity.value_or(fallback), spec.negative_slope);
  };
  switch (spec.kind) {
    case InitKind::KaimingNormal:
      return kaiming_normal(w, fans, rng, gain_or(Nonlinearity::ReLU), spec.mode);
    case InitKind::KaimingUniform:
      return kaiming_uniform(w, fans, rng, gain_or(Nonlinearity::ReLU), spec.mode);
    case InitKind::XavierNormal:
      return xavier_normal(w, fans, rng, gain_or(Nonlinearity::Linear));
    case InitKind::XavierUniform:
      return xavier_uniform(w, fans, rng, gain_or(Nonlinearity::Linear));
    case InitKind::Normal:
      return normal(w, spec.std, rng);
    case InitKind::Default:
      break;
  }
  throw Error("init_weight: the default init is the layer's own rule, not a formula");
}

InitKind init_kind_from_name(const std::string& name) {
  for (InitKind k : {InitKind::Default, InitKind::KaimingNormal, InitKind::KaimingUniform,
                     InitKind::XavierNormal, InitKind::XavierUniform, InitKind::Normal})
    if (name_of(k) == name) return k;
  throw ConfigError(
      "unknown init \"" + name +
      "\" (expected default, kaiming_normal, kaiming_uniform, xavier_normal, xavier_uniform or normal)");
}

std::string name_of(InitKind kind) {
  switch (kind) {
    case InitKind::Default:
      return "default";
    case InitKind::KaimingNormal:
      return "kaiming_normal";
    case InitKind::KaimingUniform:
      return "kaiming_uniform";
    case InitKind::XavierNormal:
      return "xavier_normal";
    case InitKind::XavierUniform:
      return "xavier_uniform";
    case InitKind::Normal:
      return "normal";
  }
  return "unknown";
}

Nonlinearity nonlinearity_from_name(const std::string& name) {
  for (Nonlinearity n : {Nonlinearity::Linear, Nonlinearity::Sigmoid, Nonlinearity::Tanh, Nonlinearity::ReLU,
                         Nonlinearity::LeakyReLU})
    if (name_of(n) == name) return n;
  throw ConfigError("unknown nonlinearity \"" + name +
                    "\" (expected linear, sigmoid, tanh, relu or leaky_relu)");
}

std::string name_of(Nonlinearity nonlinearity) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
      return "linear";
    case Nonlinearity::Sigmoid:
      return "sigmoid";
    case Nonlinearity::Tanh:
      return "tanh";
    case Nonlinearity::ReLU:
      return "relu";
    case Nonlinearity::LeakyReLU:
      return "leaky_relu";
  }
  return "unknown";
}

nlohmann::json describe(const InitSpec& spec) {
  nlohmann::json out = {{"kind", name_of(spec.kind)}};
  if (spec.kind == InitKind::Normal) out["std"] = spec.std;
  const bool kaiming = spec.kind == InitKind::KaimingNormal || spec.kind == InitKind::KaimingUniform;
  const bool xavier = spec.kind == InitKind::XavierNormal || spec.kind == InitKind::XavierUniform;
  if (kaiming || xavier) {
    const Nonlinearity n = spec.nonlinearity.value_or(kaiming ? Nonlinearity::ReLU : Nonlinearity::Linear);
    out["nonlinearity"] = name_of(n);
    if (n == Nonlinearity::LeakyReLU) out["negative_slope"] = spec.negative_slope;
  }
  if (kaiming) out["mode"] = spec.mode == FanMode::FanIn ? "fan_in" : "fan_out";
  return out;
}

}  // namespace bnlab::nn
