// Kernel, stride and padding of a 2-D sliding window (convolution, pooling) and the output size they give.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"

namespace bnlab::nn {

// A height × width pair; a single number means a square (Conv2d(3, 16, 3) as in PyTorch).
struct Extent2 {
  std::size_t h = 0;
  std::size_t w = 0;
  Extent2(std::size_t square) : h(square), w(square) {}  // implicit on purpose: kernel 3 means 3×3
  Extent2(std::size_t height, std::size_t width) : h(height), w(width) {}
  bool operator==(const Extent2& o) const { return h == o.h && w == o.w; }
  bool operator!=(const Extent2& o) const { return !(*this == o); }
};

// [h, w] for describe().
nlohmann::json to_json_array(const Extent2& e);

struct Window2d {
  Extent2 kernel;
  Extent2 stride;
  Extent2 padding;

  // Kernel and stride must be positive; throws ShapeError naming the layer.
  void validate(const std::string& layer) const;
  // PyTorch's pooling rule: padding at most half the kernel, so every window holds a real element.
  void validate_pool_padding(const std::string& layer) const;
  // Output height and width for an [N, C, H, W] input; throws ShapeError naming the layer when the input
  // is not 4-D or the padded input is smaller than the kernel.
  Extent2 output_size(const std::string& layer, const Shape& in) const;
  nlohmann::json describe() const;
};

}  // namespace bnlab::nn
