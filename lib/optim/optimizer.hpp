// Optimizer interface: updates a model's parameters in place from their accumulated gradients.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/layer.hpp"

namespace bnlab::optim {

class Optimizer {
 public:
  // exclude_norm_and_bias: no weight decay on ParamKind::Bias, NormScale, NormShift.
  Optimizer(std::vector<nn::Param> params, double weight_decay, bool exclude_norm_and_bias);
  virtual ~Optimizer() = default;
  // One update with learning rate lr (the schedule's value for this step).
  virtual void step(double lr) = 0;
  void zero_grad();
  // Per-parameter state (momentum buffers, Adam moments, step counter) for checkpoints, named like the
  // parameters ("<param name>.momentum_buffer", ...).
  virtual std::vector<nn::Buffer> state() = 0;
  virtual nlohmann::json describe() const = 0;
  const std::vector<nn::Param>& params() const { return params_; }
  // How many parameters get no weight decay (excluded, or weight_decay is 0), for the logs.
  std::size_t params_without_decay() const;

 protected:
  // Weight decay for this parameter, 0 where excluded.
  double decay_for(const nn::Param& p) const;
  // Throws ConfigError for a negative or non-finite learning rate.
  void check_step(double lr) const;
  std::vector<nn::Param> params_;
  double weight_decay_;
  bool exclude_norm_and_bias_;
};

}  // namespace bnlab::optim
