// Dropout masks from 32-bit thresholds, applied as one multiply per element.
#include "nn/dropout.hpp"

#include <algorithm>
#include <sstream>

#include "core/error.hpp"

namespace bnlab::nn {

void validate_dropout_rate(const std::string& layer, float p) {
  if (!(p >= 0.0f && p < 1.0f)) {
    std::ostringstream msg;
    msg << layer << ": p must be in [0, 1), got " << p;
    throw ConfigError(msg.str());
  }
}

void draw_dropout_scales(float* scales, std::size_t n, float p, core::Rng& rng) {
  const float keep_scale = 1.0f / (1.0f - p);
  // P(half ≥ threshold) = 1 − threshold/2³² = 1 − p up to 2⁻³².
  const std::uint64_t threshold = static_cast<std::uint64_t>(static_cast<double>(p) * 4294967296.0);
  std::size_t i = 0;
  for (; i + 1 < n; i += 2) {
    const std::uint64_t r = rng.next_u64();
    scales[i] = (r & 0xFFFFFFFFull) >= threshold ? keep_scale : 0.0f;
    scales[i + 1] = (r >> 32) >= threshold ? keep_scale : 0.0f;
  }
  if (i < n) scales[i] = (rng.next_u64() & 0xFFFFFFFFull) >= threshold ? keep_scale : 0.0f;
}

Dropout::Dropout(float p) : p_(p) {
  validate_dropout_rate("dropout", p);
}

const Tensor& Dropout::forward(const Tensor& x, Mode mode) {
  ensure_shape(output_, shape_of(x));
  const std::size_t n = x.size();
  identity_ = mode == Mode::Eval || p_ == 0.0f;
  if (identity_) {
    std::copy(x.data(), x.data() + n, output_.data());
    return output_;
  }
  ensure_shape(mask_, shape_of(x));
  draw_dropout_scales(mask_.data(), n, p_, rng_);
  const float* in = x.data();
  const float* m = mask_.data();
  float* out = output_.data();
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i] * m[i];
  return output_;
}

const Tensor& Dropout::backward(const Tensor& dy) {
  ensure_shape(input_grad_, shape_of(dy));
  const std::size_t n = dy.size();
  if (identity_) {
    std::copy(dy.data(), dy.data() + n, input_grad_.data());
    return input_grad_;
  }
  const float* g = dy.data();
  const float* m = mask_.data();
  float* dx = input_grad_.data();
  for (std::size_t i = 0; i < n; ++i) dx[i] = g[i] * m[i];
  return input_grad_;
}

}  // namespace bnlab::nn
