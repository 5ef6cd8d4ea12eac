// ReLU forward and backward over contiguous buffers; backward reads the output (y > 0 ⇔ x > 0).
#include "nn/relu.hpp"

namespace bnlab::nn {

const Tensor& ReLU::forward(const Tensor& x, Mode) {
  ensure_shape(output_, shape_of(x));
  const float* in = x.data();
  float* out = output_.data();
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
  return output_;
}

const Tensor& ReLU::backward(const Tensor& dy) {
  ensure_shape(input_grad_, shape_of(dy));
  const float* y = output_.data();
  const float* g = dy.data();
  float* dx = input_grad_.data();
  const std::size_t n = dy.size();
  for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? g[i] : 0.0f;
  return input_grad_;
}

}  // namespace bnlab::nn
