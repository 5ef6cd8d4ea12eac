// Hyperbolic tangent activation.
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class Tanh : public Layer {
 public:
  std::string type() const override { return "tanh"; }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  // dy/dx = 1 − y², from the cached output.
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override { return {{"type", type()}}; }

 private:
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
