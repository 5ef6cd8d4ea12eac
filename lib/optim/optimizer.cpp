// Shared optimizer bookkeeping: parameter checks, zeroing gradients, which parameters get weight decay.
#include "optim/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace bnlab::optim {

Optimizer::Optimizer(std::vector<nn::Param> params, double weight_decay, bool exclude_norm_and_bias)
    : params_(std::move(params)), weight_decay_(weight_decay), exclude_norm_and_bias_(exclude_norm_and_bias) {
  if (!std::isfinite(weight_decay) || weight_decay < 0.0)
    throw ConfigError("optimizer weight_decay must be a finite value ≥ 0, got " +
                      std::to_string(weight_decay));
  for (const auto& p : params_) {
    if (p.value == nullptr || p.grad == nullptr)
      throw Error("optimizer: parameter '" + p.name + "' has no value or gradient tensor");
    if (p.value->size() != p.grad->size())
      throw ShapeError("optimizer: parameter '" + p.name + "' has value shape " +
                       to_string(shape_of(*p.value)) + " but gradient shape " + to_string(shape_of(*p.grad)));
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_) std::fill(p.grad->data(), p.grad->data() + p.grad->size(), 0.0f);
}

double Optimizer::decay_for(const nn::Param& p) const {
  if (exclude_norm_and_bias_ && p.kind != nn::ParamKind::Weight) return 0.0;
  return weight_decay_;
}

std::size_t Optimizer::params_without_decay() const {
  return static_cast<std::size_t>(
      std::count_if(params_.begin(), params_.end(), [&](const nn::Param& p) { return decay_for(p) == 0.0; }));
}

void Optimizer::check_step(double lr) const {
  if (!std::isfinite(lr) || lr < 0.0)
    throw ConfigError("optimizer learning rate must be a finite value ≥ 0, got " + std::to_string(lr));
}

}  // namespace bnlab::optim
