// Dropout2d: one keep-scale per (sample, channel), applied to the whole plane.
#include "nn/dropout2d.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "nn/dropout.hpp"

namespace bnlab::nn {

Dropout2d::Dropout2d(float p) : p_(p) {
  validate_dropout_rate("dropout2d", p);
}

Shape Dropout2d::output_shape(const Shape& in) const {
  if (in.size() != 4) throw ShapeError("dropout2d expects input [N, C, H, W], got " + to_string(in));
  return in;
}

void Dropout2d::scale_planes(const float* in, float* out, std::size_t area) const {
  const std::size_t planes = channel_scales_.size();
  const float* s = channel_scales_.data();
  for (std::size_t p = 0; p < planes; ++p) {
    const float scale = s[p];
    const float* src = in + p * area;
    float* dst = out + p * area;
    for (std::size_t i = 0; i < area; ++i) dst[i] = src[i] * scale;
  }
}

const Tensor& Dropout2d::forward(const Tensor& x, Mode mode) {
  const Shape in = output_shape(shape_of(x));
  ensure_shape(output_, in);
  identity_ = mode == Mode::Eval || p_ == 0.0f;
  if (identity_) {
    std::copy(x.data(), x.data() + x.size(), output_.data());
    return output_;
  }
  ensure_shape(channel_scales_, {in[0], in[1]});
  draw_dropout_scales(channel_scales_.data(), channel_scales_.size(), p_, rng_);
  scale_planes(x.data(), output_.data(), in[2] * in[3]);
  return output_;
}

const Tensor& Dropout2d::backward(const Tensor& dy) {
  ensure_shape(input_grad_, shape_of(dy));
  if (identity_) {
    std::copy(dy.data(), dy.data() + dy.size(), input_grad_.data());
    return input_grad_;
  }
  scale_planes(dy.data(), input_grad_.data(), dy.shape()[2] * dy.shape()[3]);
  return input_grad_;
}

}  // namespace bnlab::nn
