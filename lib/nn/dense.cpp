// Dense forward and backward as sgemm calls into the layer's own buffers, split over bnlab's pool when large.
#include "nn/dense.hpp"

#include <algorithm>
#include <cmath>

#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"

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

namespace {

// Below this many multiply-adds a GEMM is not worth handing to the pool (the hand-off costs microseconds).
constexpr double kParallelMacs = 1 << 20;

// Splits [0, count) over the pool when the GEMM is large enough, else runs it on this thread.
void split_rows(std::size_t count, double macs,
                const std::function<void(std::size_t, std::size_t, int)>& body) {
  if (macs >= kParallelMacs) {
    core::parallel_for(count, body);
  } else {
    body(0, count, 0);
  }
}

}  // namespace

const Tensor& Dense::forward(const Tensor& x, Mode) {
  const Shape out = output_shape(shape_of(x));
  const std::size_t n = out[0], in = in_features_, o = out_features_;
  ensure_shape(output_, out);
  // y = x·Wᵀ (+ b), rows of the batch split over the pool; each row's sums do not depend on the split.
  split_rows(n, double(n) * in * o, [&](std::size_t first, std::size_t last, int) {
    float* y = output_.data() + first * o;
    if (has_bias_)
      for (std::size_t i = first; i < last; ++i)
        std::copy(bias.data(), bias.data() + o, output_.data() + i * o);
    core::sgemm(false, true, static_cast<int>(last - first), static_cast<int>(o), static_cast<int>(in), 1.0f,
                x.data() + first * in, static_cast<int>(in), weight.data(), static_cast<int>(in),
                has_bias_ ? 1.0f : 0.0f, y, static_cast<int>(o));
  });
  input_ = &x;
  return output_;
}

const Tensor& Dense::backward(const Tensor& dy) {
  const std::size_t n = dy.shape()[0], in = in_features_, o = out_features_;
  // dW += dyᵀ·x and db += Σ_n dy, split by output feature: each worker owns whole rows of dW, so no
  // partial sums are needed and the result does not depend on the thread count.
  split_rows(o, double(n) * in * o, [&](std::size_t first, std::size_t last, int) {
    core::sgemm(true, false, static_cast<int>(last - first), static_cast<int>(in), static_cast<int>(n), 1.0f,
                dy.data() + first, static_cast<int>(o), input_->data(), static_cast<int>(in), 1.0f,
                weight_grad.data() + first * in, static_cast<int>(in));
    if (has_bias_) {
      float* db = bias_grad.data();
      for (std::size_t i = 0; i < n; ++i) {
        const float* row = dy.data() + i * o;
        for (std::size_t j = first; j < last; ++j) db[j] += row[j];
      }
    }
  });
  if (!input_grad_needed_) return input_grad_;
  ensure_shape(input_grad_, shape_of(*input_));
  // dx = dy·W, rows of the batch split over the pool.
  split_rows(n, double(n) * in * o, [&](std::size_t first, std::size_t last, int) {
    core::sgemm(false, false, static_cast<int>(last - first), static_cast<int>(in), static_cast<int>(o), 1.0f,
                dy.data() + first * o, static_cast<int>(o), weight.data(), static_cast<int>(in), 0.0f,
                input_grad_.data() + first * in, static_cast<int>(in));
  });
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
