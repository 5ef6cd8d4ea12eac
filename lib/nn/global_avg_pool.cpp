// Global average pooling over contiguous channel planes; backward spreads each gradient evenly.
#include "nn/global_avg_pool.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace bnlab::nn {

Shape GlobalAvgPool::output_shape(const Shape& in) const {
  if (in.size() != 4) throw ShapeError("global_avg_pool expects input [N, C, H, W], got " + to_string(in));
  if (in[2] * in[3] == 0)
    throw ShapeError("global_avg_pool: input " + to_string(in) + " has no spatial positions");
  return {in[0], in[1]};
}

const Tensor& GlobalAvgPool::forward(const Tensor& x, Mode) {
  input_shape_ = shape_of(x);
  ensure_shape(output_, output_shape(input_shape_));
  const std::size_t planes = output_.size(), area = input_shape_[2] * input_shape_[3];
  const float inv_area = 1.0f / static_cast<float>(area);
  const float* in = x.data();
  float* y = output_.data();
  for (std::size_t p = 0; p < planes; ++p) {
    const float* plane = in + p * area;
    float sum = 0.0f;
    for (std::size_t i = 0; i < area; ++i) sum += plane[i];
    y[p] = sum * inv_area;
  }
  return output_;
}

const Tensor& GlobalAvgPool::backward(const Tensor& dy) {
  ensure_shape(input_grad_, input_shape_);
  const std::size_t planes = dy.size(), area = input_shape_[2] * input_shape_[3];
  const float inv_area = 1.0f / static_cast<float>(area);
  const float* g = dy.data();
  float* dx = input_grad_.data();
  for (std::size_t p = 0; p < planes; ++p) std::fill(dx + p * area, dx + (p + 1) * area, g[p] * inv_area);
  return input_grad_;
}

}  // namespace bnlab::nn
