// Conv2d forward and backward as per-sample im2col + sgemm into the layer's own buffers, samples split
// over bnlab's thread pool (BLAS single-threaded inside it).
#include "nn/conv2d.hpp"

#include <algorithm>
#include <cmath>

#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "nn/lane_sum.hpp"
#include "nn/relu.hpp"

namespace bnlab::nn {

Conv2d::Conv2d(std::size_t in_channels, std::size_t out_channels, Extent2 kernel, Extent2 stride,
               Extent2 padding, bool use_bias)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      window_{kernel, stride, padding},
      has_bias_(use_bias),
      pointwise_(kernel == Extent2(1) && stride == Extent2(1) && padding == Extent2(0)) {
  if (in_channels == 0 || out_channels == 0) throw ShapeError("conv2d: in and out channels must be positive");
  window_.validate("conv2d");
  weight = xt::zeros<float>({out_channels, in_channels, kernel.h, kernel.w});
  weight_grad = xt::zeros<float>({out_channels, in_channels, kernel.h, kernel.w});
  if (has_bias_) {
    bias = xt::zeros<float>({out_channels});
    bias_grad = xt::zeros<float>({out_channels});
  }
}

Shape Conv2d::output_shape(const Shape& in) const {
  const Extent2 out = window_.output_size("conv2d", in);
  if (in[1] != in_channels_)
    throw ShapeError("conv2d expects input [N, " + std::to_string(in_channels_) + ", H, W], got " +
                     to_string(in));
  return {in[0], out_channels_, out.h, out.w};
}

ImageGeometry Conv2d::geometry_for(const Shape& in) const {
  const Extent2 out = window_.output_size("conv2d", in);
  return {in_channels_, in[2], in[3], window_, out.h, out.w};
}

std::size_t Conv2d::sample_output_size() const {
  if (!input_) throw Error("conv2d: backward before forward");
  return out_channels_ * geometry_for(shape_of(*input_)).col_cols();
}

Conv2d::Scratch& Conv2d::scratch(std::size_t worker) {
  return scratch_[worker];
}

const Tensor& Conv2d::forward(const Tensor& x, Mode mode) {
  return forward_observed(x, mode, {});
}

const Tensor& Conv2d::forward_observed(const Tensor& x, Mode, const SampleDone& sample_done) {
  forward_samples(x, true, sample_done);
  return output_;
}

void Conv2d::forward_each(const Tensor& x, Mode, const SampleDone& sample_done) {
  forward_samples(x, false, sample_done);
}

void Conv2d::forward_samples(const Tensor& x, bool keep_output, const SampleDone& sample_done) {
  const Shape in = shape_of(x);
  const Shape out = output_shape(in);
  const ImageGeometry g = geometry_for(in);
  const std::size_t in_stride = in_channels_ * in[2] * in[3], out_stride = out_channels_ * g.col_cols();
  if (keep_output) ensure_shape(output_, out);
  const std::size_t workers = static_cast<std::size_t>(core::threads());
  if (scratch_.size() < workers) scratch_.resize(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    if (!pointwise_) ensure_shape(scratch_[w].col, {g.col_rows(), g.col_cols()});
    if (!keep_output) ensure_shape(scratch_[w].sample_output, {out_stride});
  }

  const int o = static_cast<int>(out_channels_), k = static_cast<int>(g.col_rows()),
            p = static_cast<int>(g.col_cols());
  core::parallel_for(in[0], [&](std::size_t first, std::size_t last, int worker) {
    Scratch& s = scratch(static_cast<std::size_t>(worker));
    float* col_buffer = pointwise_ ? nullptr : s.col.data();
    for (std::size_t n = first; n < last; ++n) {
      const float* image = x.data() + n * in_stride;
      float* y = keep_output ? output_.data() + n * out_stride : s.sample_output.data();
      const float* col = image;
      if (!pointwise_) {
        im2col(image, g, col_buffer);
        col = col_buffer;
      }
      if (has_bias_)
        for (int c = 0; c < o; ++c)
          std::fill(y + static_cast<std::size_t>(c) * p, y + static_cast<std::size_t>(c + 1) * p,
                    bias.data()[c]);
      core::sgemm(false, false, o, p, k, 1.0f, weight.data(), k, col, p, has_bias_ ? 1.0f : 0.0f, y, p);
      if (sample_done) sample_done(n, worker, y);
    }
  });
  input_ = &x;
}

const Tensor& Conv2d::forward_relu(const Tensor& x, Mode) {
  const std::size_t size = out_channels_ * geometry_for(shape_of(x)).col_cols();
  forward_samples(x, true, [this, size](std::size_t n, int, const float*) {
    // rectified(), as ReLU::forward.
    float* y = output_.data() + n * size;
    for (std::size_t i = 0; i < size; ++i) y[i] = rectified(y[i]);
  });
  return output_;
}

const Tensor& Conv2d::backward_relu(const Tensor& dy) {
  if (!input_ || shape_of(dy) != shape_of(output_))
    throw ShapeError("conv2d: backward of the fused ReLU got dy " + to_string(shape_of(dy)) +
                     " but expected " +
                     (input_ ? to_string(shape_of(output_)) : std::string("a forward pass first")));
  const std::size_t size = sample_output_size();
  return backward_by_sample([this, &dy, size](std::size_t n, int, float* g) {
    // As ReLU::backward: dy where the output is positive, +0 elsewhere (a NaN output passes nothing).
    const float* y = output_.data() + n * size;
    const float* d = dy.data() + n * size;
    for (std::size_t i = 0; i < size; ++i) {
      const float gi = d[i];
      g[i] = y[i] > 0.0f ? gi : 0.0f;
    }
  });
}

const Tensor& Conv2d::backward(const Tensor& dy) {
  const std::size_t out_stride = sample_output_size();
  return backward_samples([&](std::size_t n, int) { return dy.data() + n * out_stride; });
}

const Tensor& Conv2d::backward_by_sample(const SampleGrad& dy_of) {
  const std::size_t out_stride = sample_output_size();
  const std::size_t workers = static_cast<std::size_t>(core::threads());
  if (scratch_.size() < workers) scratch_.resize(workers);
  for (auto& s : scratch_) ensure_shape(s.sample_grad, {out_stride});
  return backward_samples([&](std::size_t n, int worker) {
    float* g = scratch_[static_cast<std::size_t>(worker)].sample_grad.data();
    dy_of(n, worker, g);
    return static_cast<const float*>(g);
  });
}

const Tensor& Conv2d::backward_samples(const std::function<const float*(std::size_t, int)>& dy_of) {
  const Shape in = shape_of(*input_);
  const ImageGeometry g = geometry_for(in);
  if (input_grad_needed_) ensure_shape(input_grad_, in);
  const std::size_t workers = static_cast<std::size_t>(core::threads());
  if (scratch_.size() < workers) scratch_.resize(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    Scratch& s = scratch_[w];
    if (!pointwise_) {
      ensure_shape(s.col, {g.col_rows(), g.col_cols()});
      if (input_grad_needed_) ensure_shape(s.col_grad, {g.col_rows(), g.col_cols()});
    }
    if (w > 0) {
      ensure_shape(s.weight_grad, shape_of(weight_grad));
      std::fill(s.weight_grad.begin(), s.weight_grad.end(), 0.0f);
      if (has_bias_) {
        ensure_shape(s.bias_grad, shape_of(bias_grad));
        std::fill(s.bias_grad.begin(), s.bias_grad.end(), 0.0f);
      }
    }
  }

  const int o = static_cast<int>(out_channels_), k = static_cast<int>(g.col_rows()),
            p = static_cast<int>(g.col_cols());
  const std::size_t in_stride = in_channels_ * in[2] * in[3];
  core::parallel_for(in[0], [&](std::size_t first, std::size_t last, int worker) {
    Scratch& s = scratch(worker);
    float* dw = worker == 0 ? weight_grad.data() : s.weight_grad.data();
    float* db = has_bias_ ? (worker == 0 ? bias_grad.data() : s.bias_grad.data()) : nullptr;
    for (std::size_t n = first; n < last; ++n) {
      const float* image = input_->data() + n * in_stride;
      const float* g_out = dy_of(n, worker);
      float* dx = input_grad_.data() + n * in_stride;
      const float* col = image;
      if (!pointwise_) {
        im2col(image, g, s.col.data());
        col = s.col.data();
      }
      // dW[O, K] += dy[O, P] · colᵀ[P, K]
      core::sgemm(false, true, o, k, p, 1.0f, g_out, p, col, p, 1.0f, dw, k);
      if (db) {
        // Double lanes: a single float accumulator is a serial chain of p adds per channel, ~5% of a step.
        for (int c = 0; c < o; ++c) {
          const float* row = g_out + static_cast<std::size_t>(c) * p;
          db[c] += static_cast<float>(
              lane_sum(static_cast<std::size_t>(p), [row](std::size_t i) { return double(row[i]); }));
        }
      }
      // dcol[K, P] = Wᵀ[K, O] · dy[O, P], folded back onto the image.
      if (!input_grad_needed_) continue;
      if (pointwise_) {
        core::sgemm(true, false, k, p, o, 1.0f, weight.data(), k, g_out, p, 0.0f, dx, p);
      } else {
        core::sgemm(true, false, k, p, o, 1.0f, weight.data(), k, g_out, p, 0.0f, s.col_grad.data(), p);
        std::fill(dx, dx + in_stride, 0.0f);
        col2im_add(s.col_grad.data(), g, dx);
      }
    }
  });
  // Partial sums of the other workers, in worker order so a thread count always gives the same result.
  for (std::size_t w = 1; w < workers && w < in[0]; ++w) {
    const Scratch& s = scratch_[w];
    float* dw = weight_grad.data();
    const float* part = s.weight_grad.data();
    for (std::size_t i = 0, n = weight_grad.size(); i < n; ++i) dw[i] += part[i];
    if (has_bias_) {
      float* db = bias_grad.data();
      const float* bpart = s.bias_grad.data();
      for (std::size_t i = 0, n = bias_grad.size(); i < n; ++i) db[i] += bpart[i];
    }
  }
  return input_grad_;
}

void Conv2d::initialize(core::Rng& rng) {
  const Fans fans = fans_of(shape_of(weight));
  if (init_.kind != InitKind::Default) {
    init_weight(weight, init_, fans, rng);
    if (has_bias_) std::fill(bias.begin(), bias.end(), 0.0f);
    return;
  }
  // kaiming_uniform(a=√5) as torch does reduces to this bound.
  const float bound = 1.0f / std::sqrt(static_cast<float>(fans.in));
  uniform(weight, -bound, bound, rng);
  if (has_bias_) uniform(bias, -bound, bound, rng);
}

std::vector<Param> Conv2d::params() {
  std::vector<Param> p{{"weight", &weight, &weight_grad, ParamKind::Weight}};
  if (has_bias_) p.push_back({"bias", &bias, &bias_grad, ParamKind::Bias});
  return p;
}

nlohmann::json Conv2d::describe() const {
  nlohmann::json out = {{"type", type()}, {"in", in_channels_}, {"out", out_channels_}};
  out.update(window_.describe());
  out["bias"] = has_bias_;
  if (init_.kind != InitKind::Default) out["init"] = nn::describe(init_);
  return out;
}

}  // namespace bnlab::nn
