// LeakyReLU forward and backward over contiguous buffers.
#include "nn/leaky_relu.hpp"

namespace bnlab::nn {

const Tensor& LeakyReLU::forward(const Tensor& x, Mode) {
  ensure_shape(output_, shape_of(x));
  const float* in = x.data();
  float* out = output_.data();
  const float slope = negative_slope_;
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : slope * in[i];
  input_ = &x;
  return output_;
}

const Tensor& LeakyReLU::backward(const Tensor& dy) {
  ensure_shape(input_grad_, shape_of(dy));
  const float* x = input_->data();
  const float* g = dy.data();
  float* dx = input_grad_.data();
  const float slope = negative_slope_;
  const std::size_t n = dy.size();
  for (std::size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? g[i] : slope * g[i];
  return input_grad_;
}

}  // namespace bnlab::nn
