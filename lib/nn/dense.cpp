// Dense forward and backward as single sgemm calls into the layer's own buffers.
#include "nn/dense.hpp"

#include <algorithm>
#include <cmath>

#include "core/blas.hpp"
#include "core/error.hpp"

namespace bnlab::nn {

Dense::Dense(std::size_t in_features, std::size_t out_features, bool use_bias)
    : in_features_(in_features), out_features_(out_features), has_bias_(use_bias) {
  if (in_features == 0 || out_features == 0) throw ShapeError("dense: in and out features must be positive");
  weight = xt::zeros<float>({out_features, in_features});
  weight_grad = xt::zeros<float>({out_features, in_features});
  if (has_bias_) {
    bias = xt::zeros<float>({out_features});
    bias_grad = xt::zeros<float>({out_features});
  }
}

Shape Dense::output_shape(const Shape& in) const {
  if (in.size() != 2 || in[1] != in_features_)
    throw ShapeError("dense expects input [N, " + std::to_string(in_features_) + "], got " + to_string(in) +
                     (in.size() > 2 ? " (add a flatten layer before it)" : ""));
  return {in[0], out_features_};
}

const Tensor& Dense::forward(const Tensor& x, Mode) {
  const Shape out = output_shape(shape_of(x));
  const int n = static_cast<int>(out[0]), in = static_cast<int>(in_features_),
            o = static_cast<int>(out_features_);
  ensure_shape(output_, out);
  float* y = output_.data();
  if (has_bias_) {
    for (int i = 0; i < n; ++i) std::copy(bias.data(), bias.data() + o, y + static_cast<std::size_t>(i) * o);
  }
  core::sgemm(false, true, n, o, in, 1.0f, x.data(), in, weight.data(), in, has_bias_ ? 1.0f : 0.0f, y, o);
  input_ = &x;
  return output_;
}

const Tensor& Dense::backward(const Tensor& dy) {
  const int n = static_cast<int>(dy.shape()[0]), in = static_cast<int>(in_features_),
            o = static_cast<int>(out_features_);
  // dW += dyᵀ·x ; db += Σ_n dy ; dx = dy·W
  core::sgemm(true, false, o, in, n, 1.0f, dy.data(), o, input_->data(), in, 1.0f, weight_grad.data(), in);
  if (has_bias_) {
    float* db = bias_grad.data();
    for (int i = 0; i < n; ++i) {
      const float* row = dy.data() + static_cast<std::size_t>(i) * o;
      for (int j = 0; j < o; ++j) db[j] += row[j];
    }
  }
  ensure_shape(input_grad_, shape_of(*input_));
  core::sgemm(false, false, n, in, o, 1.0f, dy.data(), o, weight.data(), in, 0.0f, input_grad_.data(), in);
  return input_grad_;
}

void Dense::initialize(core::Rng& rng) {
  if (init_.kind != InitKind::Default) {
    init_weight(weight, init_, fans_of(shape_of(weight)), rng);
    if (has_bias_) std::fill(bias.begin(), bias.end(), 0.0f);
    return;
  }
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_features_));
  uniform(weight, -bound, bound, rng);
  if (has_bias_) uniform(bias, -bound, bound, rng);
}

std::vector<Param> Dense::params() {
  std::vector<Param> p{{"weight", &weight, &weight_grad, ParamKind::Weight}};
  if (has_bias_) p.push_back({"bias", &bias, &bias_grad, ParamKind::Bias});
  return p;
}

nlohmann::json Dense::describe() const {
  nlohmann::json out = {{"type", type()}, {"in", in_features_}, {"out", out_features_}, {"bias", has_bias_}};
  // Only a non-default init is named, so the usual description stays one short line.
  if (init_.kind != InitKind::Default) out["init"] = nn::describe(init_);
  return out;
}

}  // namespace bnlab::nn
