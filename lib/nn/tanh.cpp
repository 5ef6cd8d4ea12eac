// Tanh forward and backward over contiguous buffers.
#include "nn/tanh.hpp"

#include <cmath>

namespace bnlab::nn {

const Tensor& Tanh::forward(const Tensor& x, Mode) {
  ensure_shape(output_, shape_of(x));
  const float* in = x.data();
  float* out = output_.data();
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
  return output_;
}

const Tensor& Tanh::backward(const Tensor& dy) {
  ensure_shape(input_grad_, shape_of(dy));
  const float* y = output_.data();
  const float* g = dy.data();
  float* dx = input_grad_.data();
  const std::size_t n = dy.size();
  for (std::size_t i = 0; i < n; ++i) dx[i] = g[i] * (1.0f - y[i] * y[i]);
  return input_grad_;
}

}  // namespace bnlab::nn
