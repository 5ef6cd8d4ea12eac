// SGD with momentum, dampening, Nesterov and coupled weight decay, in torch.optim.SGD's update form.
#pragma once

#include "optim/optimizer.hpp"

namespace bnlab::optim {

struct SgdOptions {
  double momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false, exclude_norm_and_bias = false;
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<nn::Param> params, const SgdOptions& options);
  void step(double lr) override;
  std::vector<nn::Buffer> state() override;
  nlohmann::json describe() const override;

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_buffers_;
  Tensor steps_taken_;  // one element; momentum buffers start at g on the first step, as in PyTorch
};

}  // namespace bnlab::optim
