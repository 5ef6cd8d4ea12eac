// Leaky rectified linear unit y = x for x > 0, slope·x otherwise (PyTorch's default slope 0.01).
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class LeakyReLU : public Layer {
 public:
  explicit LeakyReLU(float negative_slope = 0.01f) : negative_slope_(negative_slope) {}

  std::string type() const override { return "leaky_relu"; }
  Shape output_shape(const Shape& in) const override { return in; }
  const Tensor& forward(const Tensor& x, Mode mode) override;
  // Reads the input's sign (the output's sign would be wrong for a zero or negative slope).
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override { return {{"type", type()}, {"negative_slope", negative_slope_}}; }

  float negative_slope() const { return negative_slope_; }

 private:
  float negative_slope_;
  const Tensor* input_ = nullptr;
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
