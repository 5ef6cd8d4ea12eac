// Rectified linear unit y = max(x, 0); a NaN input stays NaN (as in PyTorch), with zero gradient.
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class ReLU : public Layer {
 public:
  std::string type() const override { return "relu"; }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override { return {{"type", type()}}; }

 private:
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
