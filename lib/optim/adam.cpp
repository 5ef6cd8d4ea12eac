// Adam and AdamW update loops in torch.optim.Adam / AdamW's (1.13, single-tensor) order of operations.
#include "optim/adam.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "optim/multiply_add.hpp"

namespace bnlab::optim {

Adam::Adam(std::vector<nn::Param> params, const AdamOptions& options)
    : Optimizer(std::move(params), options.weight_decay, options.exclude_norm_and_bias), options_(options) {
  const char* name = options.decoupled_weight_decay ? "adamw" : "adam";
  if (!(options.beta1 >= 0.0 && options.beta1 < 1.0))
    throw ConfigError(std::string(name) + " beta1 must be in [0, 1), got " + std::to_string(options.beta1));
  if (!(options.beta2 >= 0.0 && options.beta2 < 1.0))
    throw ConfigError(std::string(name) + " beta2 must be in [0, 1), got " + std::to_string(options.beta2));
  if (!std::isfinite(options.eps) || options.eps < 0.0)
    throw ConfigError(std::string(name) + " eps must be a finite value ≥ 0, got " +
                      std::to_string(options.eps));
  for (const auto& p : params_) {
    exp_avg_.push_back(xt::zeros<float>(p.value->shape()));
    exp_avg_sq_.push_back(xt::zeros<float>(p.value->shape()));
  }
  steps_taken_ = xt::zeros<float>({1});
}

void Adam::step(double lr) {
  check_step(lr);
  // Exact to 2^24 steps; long before that both bias corrections are 1 to float precision.
  const float step = steps_taken_.data()[0] + 1.0f;
  steps_taken_.data()[0] = step;
  // Scalars are computed in double and rounded to float once, as PyTorch passes Python floats to its kernels.
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias_correction1 = 1.0 - std::pow(b1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(b2, static_cast<double>(step));
  const float beta1 = static_cast<float>(b1), one_minus_beta1 = static_cast<float>(1.0 - b1);
  const float beta2 = static_cast<float>(b2), one_minus_beta2 = static_cast<float>(1.0 - b2);
  const float neg_step_size = static_cast<float>(-(lr / bias_correction1));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float eps = static_cast<float>(options_.eps);
  const bool decoupled = options_.decoupled_weight_decay;

  for (std::size_t k = 0; k < params_.size(); ++k) {
    const nn::Param& p = params_[k];
    const std::size_t n = p.value->size();
    if (exp_avg_[k].size() != n)
      throw ShapeError("adam: parameter '" + p.name + "' changed shape to " + to_string(shape_of(*p.value)) +
                       " after the optimizer was created");
    const double decay = decay_for(p);
    float* __restrict w = p.value->data();
    const float* __restrict g = p.grad->data();
    float* __restrict m = exp_avg_[k].data();
    float* __restrict v = exp_avg_sq_[k].data();
    // AdamW shrinks the weight by (1 − lr·wd) in its own pass, as PyTorch does: fused into the update
    // loop, the compiler could contract w·shrink + Δ into one FMA and round differently.
    if (decoupled && decay != 0.0) {
      volatile double lr_decay = lr * decay;  // rounded on its own, as in Python, before 1 − …
      const float shrink = static_cast<float>(1.0 - lr_decay);
      for (std::size_t i = 0; i < n; ++i) w[i] *= shrink;
    }
    // Adam (L2) adds wd·w to the gradient instead.
    const float coupled_wd = decoupled ? 0.0f : static_cast<float>(decay);
    for (std::size_t i = 0; i < n; ++i) {
      const float grad = multiply_add(coupled_wd, w[i], g[i]);
      m[i] = multiply_add(one_minus_beta1, grad, m[i] * beta1);
      v[i] = multiply_add(one_minus_beta2 * grad, grad, v[i] * beta2);
      const float denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps;
      w[i] += neg_step_size * m[i] / denom;
    }
  }
}

std::vector<nn::Buffer> Adam::state() {
  std::vector<nn::Buffer> s{{"adam.steps", &steps_taken_}};
  for (std::size_t k = 0; k < params_.size(); ++k) {
    s.push_back({params_[k].name + ".exp_avg", &exp_avg_[k]});
    s.push_back({params_[k].name + ".exp_avg_sq", &exp_avg_sq_[k]});
  }
  return s;
}

nlohmann::json Adam::describe() const {
  return {{"type", options_.decoupled_weight_decay ? "adamw" : "adam"},
          {"beta1", options_.beta1},
          {"beta2", options_.beta2},
          {"eps", options_.eps},
          {"weight_decay", options_.weight_decay},
          {"exclude_norm_and_bias", options_.exclude_norm_and_bias},
          {"params_without_decay", params_without_decay()}};
}

}  // namespace bnlab::optim
