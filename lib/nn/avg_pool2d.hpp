// 2-D average pooling over [N, C, H, W], counting padded zeros in the divisor (count_include_pad=true).
#pragma once

#include <optional>

#include "nn/layer.hpp"
#include "nn/window2d.hpp"

namespace bnlab::nn {

class AvgPool2d : public Layer {
 public:
  // stride defaults to the kernel, as in PyTorch; padding is at most half the kernel.
  explicit AvgPool2d(Extent2 kernel, std::optional<Extent2> stride = std::nullopt, Extent2 padding = 0);

  std::string type() const override { return "avgpool2d"; }
  Shape output_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;
  nlohmann::json describe() const override;

  const Window2d& window() const { return window_; }

 private:
  Window2d window_;
  Shape input_shape_;
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
