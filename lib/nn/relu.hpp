// Rectified linear unit y = max(x, 0); a NaN input stays NaN (as in PyTorch), with zero gradient.
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

// The rule every fused ReLU applies too, so fused and unfused results agree bit for bit: +0 for x ≤ 0
// (−0 included), x otherwise, a NaN staying NaN.
inline float rectified(float x) {
  return x <= 0.0f ? 0.0f : x;
}

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
