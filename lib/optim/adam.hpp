// Adam (coupled L2 weight decay) and AdamW (decoupled weight decay), as torch.optim.Adam / AdamW.
#pragma once

#include "optim/optimizer.hpp"

namespace bnlab::optim {

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true = AdamW
  bool exclude_norm_and_bias = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<nn::Param> params, const AdamOptions& options);
  void step(double lr) override;
  std::vector<nn::Buffer> state() override;
  nlohmann::json describe() const override;

 private:
  AdamOptions options_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  Tensor steps_taken_;
};

}  // namespace bnlab::optim
