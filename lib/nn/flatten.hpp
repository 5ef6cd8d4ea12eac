// Flattens every sample to one feature vector, [N, d1, d2, …] → [N, d1·d2·…], for dense layers after
// convolutions.
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class Flatten : public Layer {
 public:
  std::string type() const override { return "flatten"; }
  Shape output_shape(const Shape& in) const override;
  // Row-major data is already in flattened order: forward and backward are one contiguous copy each,
  // which the contract requires because the layer returns its own buffer.
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override { return {{"type", type()}}; }

 private:
  Shape input_shape_;
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
