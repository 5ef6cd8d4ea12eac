// SGD update loops in torch.optim.SGD's order of operations, so results match PyTorch to float rounding.
#include "optim/sgd.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "optim/multiply_add.hpp"

namespace bnlab::optim {

namespace {

// Tensors smaller than this are updated on the calling thread: a pool hand-off costs microseconds.
constexpr std::size_t kParallelElements = 1 << 15;

void split_elements(std::size_t n, const std::function<void(std::size_t, std::size_t, int)>& body) {
  if (n >= kParallelElements) {
    core::parallel_for(n, body);
  } else {
    body(0, n, 0);
  }
}

}  // namespace

Sgd::Sgd(std::vector<nn::Param> params, const SgdOptions& options)
    : Optimizer(std::move(params), options.weight_decay, options.exclude_norm_and_bias), options_(options) {
  if (!std::isfinite(options.momentum) || options.momentum < 0.0)
    throw ConfigError("sgd momentum must be a finite value ≥ 0, got " + std::to_string(options.momentum));
  if (!std::isfinite(options.dampening) || options.dampening < 0.0 || options.dampening > 1.0)
    throw ConfigError("sgd dampening must be in [0, 1], got " + std::to_string(options.dampening));
  if (options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0))
    throw ConfigError("sgd nesterov requires momentum > 0 and dampening 0 (got momentum " +
                      std::to_string(options.momentum) + ", dampening " + std::to_string(options.dampening) +
                      ")");
  if (options.momentum != 0.0)
    for (const auto& p : params_) momentum_buffers_.push_back(xt::zeros<float>(p.value->shape()));
  steps_taken_ = xt::zeros<float>({1});
}

void Sgd::step(double lr) {
  check_step(lr);
  const bool use_momentum = options_.momentum != 0.0;
  const bool first = steps_taken_.data()[0] == 0.0f;
  const bool nesterov = options_.nesterov;
  // Hyperparameters are rounded to float once, as PyTorch's CPU kernels do with Python scalars.
  const float mu = static_cast<float>(options_.momentum);
  const float keep = static_cast<float>(1.0 - options_.dampening);
  const float neg_lr = static_cast<float>(-lr);
  for (std::size_t k = 0; k < params_.size(); ++k) {
    const nn::Param& p = params_[k];
    const float wd = static_cast<float>(decay_for(p));
    float* w = p.value->data();
    const float* g = p.grad->data();
    const std::size_t n = p.value->size();
    if (use_momentum && momentum_buffers_[k].size() != n)
      throw ShapeError("sgd: parameter '" + p.name + "' changed shape to " + to_string(shape_of(*p.value)) +
                       " after the optimizer was created");
    float* b = use_momentum ? momentum_buffers_[k].data() : nullptr;
    // Element-wise, so splitting a large tensor over the pool changes nothing but the time.
    split_elements(n, [=](std::size_t first_i, std::size_t last_i, int) {
      if (!use_momentum) {
        for (std::size_t i = first_i; i < last_i; ++i)
          w[i] = multiply_add(neg_lr, multiply_add(wd, w[i], g[i]), w[i]);
        return;
      }
      for (std::size_t i = first_i; i < last_i; ++i) {
        const float d = multiply_add(wd, w[i], g[i]);
        // PyTorch starts the buffer at the first gradient itself (no dampening on step one).
        b[i] = first ? d : multiply_add(keep, d, b[i] * mu);
        w[i] = multiply_add(neg_lr, nesterov ? multiply_add(mu, b[i], d) : b[i], w[i]);
      }
    });
  }
  // A float counter is exact to 2^24 steps; only "zero or not" matters for SGD.
  steps_taken_.data()[0] += 1.0f;
}

std::vector<nn::Buffer> Sgd::state() {
  std::vector<nn::Buffer> s{{"sgd.steps", &steps_taken_}};
  for (std::size_t k = 0; k < momentum_buffers_.size(); ++k)
    s.push_back({params_[k].name + ".momentum_buffer", &momentum_buffers_[k]});
  return s;
}

nlohmann::json Sgd::describe() const {
  return {{"type", "sgd"},
          {"momentum", options_.momentum},
          {"dampening", options_.dampening},
          {"nesterov", options_.nesterov},
          {"weight_decay", options_.weight_decay},
          {"exclude_norm_and_bias", options_.exclude_norm_and_bias},
          {"params_without_decay", params_without_decay()}};
}

}  // namespace bnlab::optim
