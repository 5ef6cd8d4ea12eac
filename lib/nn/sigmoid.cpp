// Sigmoid in a form that never overflows: e^−|x| is at most 1.
#include "nn/sigmoid.hpp"

#include <cmath>

namespace bnlab::nn {

const Tensor& Sigmoid::forward(const Tensor& x, Mode) {
  ensure_shape(output_, shape_of(x));
  const float* in = x.data();
  float* out = output_.data();
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) {
    const float e = std::exp(-std::abs(in[i]));
    out[i] = in[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  }
  return output_;
}

const Tensor& Sigmoid::backward(const Tensor& dy) {
  ensure_shape(input_grad_, shape_of(dy));
  const float* y = output_.data();
  const float* g = dy.data();
  float* dx = input_grad_.data();
  const std::size_t n = dy.size();
  for (std::size_t i = 0; i < n; ++i) dx[i] = g[i] * y[i] * (1.0f - y[i]);
  return input_grad_;
}

}  // namespace bnlab::nn
