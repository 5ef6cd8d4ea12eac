// Logistic sigmoid y = 1 / (1 + e^−x).
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class Sigmoid : public Layer {
 public:
  std::string type() const override { return "sigmoid"; }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  // dy/dx = y·(1 − y), from the cached output.
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override { return {{"type", type()}}; }

 private:
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
