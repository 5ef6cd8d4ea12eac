// Global average pooling: the mean of each channel over its spatial positions, [N, C, H, W] → [N, C].
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class GlobalAvgPool : public Layer {
 public:
  std::string type() const override { return "global_avg_pool"; }
  Shape output_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override { return {{"type", type()}}; }

 private:
  Shape input_shape_;
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
