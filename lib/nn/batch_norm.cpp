// BatchNorm forward and backward: per-channel passes over contiguous [N, C, P] memory, sums in double.
#include "nn/batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "nn/lane_sum.hpp"
#include "nn/max_pool2d.hpp"

namespace bnlab::nn {

namespace {

// The passes below walk [N, C, P] in memory order over a range of channels [c0, c1). For dense input
// (P = 1) the inner loop runs across channels (per-channel arrays, vectorizable); otherwise along each
// contiguous run of P values. Every channel's sums are taken in the same order whatever the range, so
// splitting channels over threads gives bit-identical results.
struct Channels {
  std::size_t batch, channels, positions, c0, c1;
  int worker;  // of the thread pool, for per-thread scratch
};

// Called around each contiguous run of P values (P > 1) with its sample n, channel c and first index: a
// pass fused with max pooling makes one plane of dy before its run, or pools one plane of y after it, in
// scratch of its thread.
struct NoRunHooks {
  void begin(std::size_t /*n*/, std::size_t /*c*/, std::size_t /*at*/) const {}
  void end(std::size_t /*n*/, std::size_t /*c*/) const {}
};

template <class Begin, class End>
struct RunHooks {
  Begin begin_run;
  End end_run;
  void begin(std::size_t n, std::size_t c, std::size_t at) const { begin_run(n, c, at); }
  void end(std::size_t n, std::size_t c) const { end_run(n, c); }
};
template <class Begin, class End>
RunHooks<Begin, End> run_hooks(Begin begin, End end) {
  return {begin, end};
}

// sums_a[c] += Σ term_a(index, c) and sums_b[c] += Σ term_b(index, c) over each channel's N·P values, in
// one pass over memory in memory order. Each channel's lanes (lanes[c]) stay open across its N runs and are
// folded once at the end; the order of additions per channel does not depend on the range.
template <class TermA, class TermB, class Hooks = NoRunHooks>
void channel_sums2(const Channels& r, LaneSums2* lanes, double* sums_a, double* sums_b, TermA term_a,
                   TermB term_b, const Hooks& hooks = {}) {
  if (r.positions == 1) {
    for (std::size_t n = 0; n < r.batch; ++n)
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        sums_a[c] += term_a(n * r.channels + c, c);
        sums_b[c] += term_b(n * r.channels + c, c);
      }
    return;
  }
  for (std::size_t c = r.c0; c < r.c1; ++c) lanes[c] = LaneSums2{};
  for (std::size_t n = 0; n < r.batch; ++n)
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      const std::size_t at = (n * r.channels + c) * r.positions;
      hooks.begin(n, c, at);
      lanes[c].add_run(
          r.positions, [&](std::size_t p) { return term_a(at + p, c); },
          [&](std::size_t p) { return term_b(at + p, c); });
      hooks.end(n, c);
    }
  for (std::size_t c = r.c0; c < r.c1; ++c) {
    sums_a[c] += lanes[c].a.total();
    sums_b[c] += lanes[c].b.total();
  }
}

// apply(index, c) for every element of the channels.
template <class Apply, class Hooks = NoRunHooks>
void for_each_element(const Channels& r, Apply apply, const Hooks& hooks = {}) {
  for (std::size_t n = 0; n < r.batch; ++n) {
    if (r.positions == 1) {
      for (std::size_t c = r.c0; c < r.c1; ++c) apply(n * r.channels + c, c);
    } else {
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        const std::size_t at = (n * r.channels + c) * r.positions;
        hooks.begin(n, c, at);
        for (std::size_t p = 0; p < r.positions; ++p) apply(at + p, c);
        hooks.end(n, c);
      }
    }
  }
}

// What forward writes before any ReLU; backward recomputes it with the same operations to know where the
// fused ReLU passed the gradient.
inline float normalized(float x, float mean, float scale, float shift) {
  return (x - mean) * scale + shift;
}

// Channels are independent: large inputs split them over the pool, small ones stay on this thread.
void for_channel_ranges(std::size_t batch, std::size_t channels, std::size_t positions,
                        const std::function<void(const Channels&)>& body) {
  constexpr std::size_t kParallelElements = 1 << 15;
  if (batch * channels * positions < kParallelElements) {
    body({batch, channels, positions, 0, channels, 0});
    return;
  }
  // Whole ranges of channels, walked in memory order: visiting one channel at a time strides by C·H·W
  // floats, a power of two for most conv layers, which maps a channel's runs onto a few cache sets and
  // evicted them before the next pass could reuse them.
  core::parallel_for(channels, [&](std::size_t c0, std::size_t c1, int worker) {
    body({batch, channels, positions, c0, c1, worker});
  });
}

}  // namespace

BatchNorm::BatchNorm(std::size_t channels, const BatchNormOptions& options)
    : channels_(channels), options_(options) {
  if (channels == 0) throw ShapeError("batchnorm: the number of channels must be positive");
  if (!(options.eps > 0.0))
    throw ConfigError("batchnorm eps must be positive, got " + std::to_string(options.eps));
  if (options.momentum && !(*options.momentum >= 0.0 && *options.momentum <= 1.0))
    throw ConfigError("batchnorm momentum must lie in [0, 1] (or be null for a cumulative average), got " +
                      std::to_string(*options.momentum));
  if (options.affine) {
    weight_grad = xt::zeros<float>({channels});
    bias_grad = xt::zeros<float>({channels});
  }
  mean_.resize(channels);
  inv_std_.resize(channels);
  sum_a_.resize(channels);
  sum_b_.resize(channels);
  scale_.resize(channels);
  slope_.resize(channels);
  offset_.resize(channels);
  norm_scale_.resize(channels);
  norm_shift_.resize(channels);
  lanes_.resize(channels);
  reset();
}

void BatchNorm::reset() {
  if (options_.affine) {
    weight = xt::ones<float>({channels_});
    bias = xt::zeros<float>({channels_});
  }
  if (options_.track_running_stats) {
    running_mean = xt::zeros<float>({channels_});
    running_var = xt::ones<float>({channels_});
    num_batches_tracked = xt::zeros<float>({std::size_t{1}});
  }
}

void BatchNorm::initialize(core::Rng&) {
  reset();
}

Shape BatchNorm1d::output_shape(const Shape& in) const {
  if ((in.size() != 2 && in.size() != 3) || in[1] != channels())
    throw ShapeError("batchnorm1d expects input [N, " + std::to_string(channels()) + "] or [N, " +
                     std::to_string(channels()) + ", L], got " + to_string(in) +
                     (in.size() == 4 ? " (use batchnorm2d for images)" : ""));
  return in;
}

Shape BatchNorm2d::output_shape(const Shape& in) const {
  if (in.size() != 4 || in[1] != channels())
    throw ShapeError("batchnorm2d expects input [N, " + std::to_string(channels()) + ", H, W], got " +
                     to_string(in) + (in.size() == 2 ? " (use batchnorm1d after a dense layer)" : ""));
  return in;
}

const Tensor& BatchNorm::forward(const Tensor& x, Mode mode) {
  return forward_pass<Then::Nothing>(x, mode, nullptr);
}

const Tensor& BatchNorm::forward_relu(const Tensor& x, Mode mode) {
  return forward_pass<Then::Relu>(x, mode, nullptr);
}

const Tensor& BatchNorm::forward_relu_pool(const Tensor& x, Mode mode, MaxPool2d& pool) {
  return forward_pass<Then::ReluMaxPool>(x, mode, &pool);
}

const Tensor& BatchNorm::backward(const Tensor& dy) {
  return backward_pass<Then::Nothing>(dy, nullptr);
}

const Tensor& BatchNorm::backward_relu(const Tensor& dy) {
  return backward_pass<Then::Relu>(dy, nullptr);
}

const Tensor& BatchNorm::backward_relu_pool(const Tensor& dy, const MaxPool2d& pool) {
  return backward_pass<Then::ReluMaxPool>(dy, &pool);
}

template <BatchNorm::Then kThen>
const Tensor& BatchNorm::forward_pass(const Tensor& x, Mode mode, MaxPool2d* pool) {
  const Shape shape = output_shape(shape_of(x));
  const std::size_t batch = shape[0], positions = element_count(shape) / (batch * channels_);
  const std::size_t count = batch * positions;  // values per channel
  const float* in = x.data();
  used_batch_stats_ = mode == Mode::Train || !options_.track_running_stats;
  if (used_batch_stats_ && count < 2)
    throw ShapeError(type() +
                     " needs more than one value per channel to compute batch statistics, got input " +
                     to_string(shape) + " (N·H·W = " + std::to_string(count) +
                     "); use a batch size of at least 2, or drop_last so no batch of one remains");
  const bool update = used_batch_stats_ && mode == Mode::Train && options_.track_running_stats;
  double factor = 0.0;
  if (update) {
    num_batches_tracked.data()[0] += 1.0f;
    factor = options_.momentum ? *options_.momentum : 1.0 / num_batches_tracked.data()[0];
  }
  ensure_shape(output_, shape);  // y, or only backward's dx when the pooling takes y plane by plane
  float* out = output_.data();
  if constexpr (kThen == Then::ReluMaxPool) {
    pool->begin_forward(shape);
    plane_scratch_.resize(static_cast<std::size_t>(core::threads()) * positions);
  }

  for_channel_ranges(batch, channels_, positions, [&](const Channels& r) {
    if (used_batch_stats_) {
      // One pass of Σd and Σd² in double, d = x − x₀ with x₀ the channel's first value: shifting by a value
      // of the channel keeps the variance accurate when |mean| ≫ σ (as the two-pass formula does) while
      // reading the input once instead of twice.
      // x₀ of channel c is in[c·P] (sample 0, position 0).
      auto d = [in, positions](std::size_t i, std::size_t c) {
        return double(in[i]) - double(in[c * positions]);
      };
      std::fill(sum_a_.begin() + r.c0, sum_a_.begin() + r.c1, 0.0);
      std::fill(sum_b_.begin() + r.c0, sum_b_.begin() + r.c1, 0.0);
      channel_sums2(r, lanes_.data(), sum_a_.data(), sum_b_.data(), d, [d](std::size_t i, std::size_t c) {
        const double v = d(i, c);
        return v * v;
      });
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        const double mean_shifted = sum_a_[c] / static_cast<double>(count);
        sum_a_[c] = in[c * positions] + mean_shifted;
        // Σ(x − μ)² = Σd² − N·mean(d)²; |mean(d)| is of the order of σ, so little cancels.
        sum_b_[c] = std::max(0.0, sum_b_[c] - static_cast<double>(count) * mean_shifted * mean_shifted);
      }
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        const double mean = sum_a_[c], biased_var = sum_b_[c] / static_cast<double>(count);
        mean_[c] = static_cast<float>(mean);
        inv_std_[c] = static_cast<float>(1.0 / std::sqrt(biased_var + options_.eps));
        if (update) {
          const double unbiased_var = sum_b_[c] / static_cast<double>(count - 1);
          float& rm = running_mean.data()[c];
          float& rv = running_var.data()[c];
          rm = static_cast<float>((1.0 - factor) * rm + factor * mean);
          rv = static_cast<float>((1.0 - factor) * rv + factor * unbiased_var);
        }
      }
    } else {
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        mean_[c] = running_mean.data()[c];
        inv_std_[c] =
            static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var.data()[c]) + options_.eps));
      }
    }
    const float* gamma = options_.affine ? weight.data() : nullptr;
    const float* beta = options_.affine ? bias.data() : nullptr;
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      norm_scale_[c] = gamma ? gamma[c] * inv_std_[c] : inv_std_[c];
      norm_shift_[c] = beta ? beta[c] : 0.0f;
    }
    const float *m = mean_.data(), *scale = norm_scale_.data(), *shift = norm_shift_.data();
    if constexpr (kThen == Then::ReluMaxPool) {
      // Each plane of max(y, 0) is made in this thread's scratch (in cache) and pooled from there.
      float* plane = plane_scratch_.data() + static_cast<std::size_t>(r.worker) * positions;
      std::size_t run_at = 0;
      for_each_element(
          r,
          [=, &run_at](std::size_t i, std::size_t c) {
            const float y = normalized(in[i], m[c], scale[c], shift[c]);
            plane[i - run_at] = y <= 0.0f ? 0.0f : y;  // as ReLU::forward
          },
          run_hooks([&run_at](std::size_t, std::size_t, std::size_t at) { run_at = at; },
                    [&](std::size_t n, std::size_t c) { pool->forward_plane(n * channels_ + c, plane); }));
    } else {
      for_each_element(r, [=](std::size_t i, std::size_t c) {
        const float y = normalized(in[i], m[c], scale[c], shift[c]);
        // The same comparison as ReLU::forward, so the fused output is bit-identical.
        if constexpr (kThen == Then::Relu) {
          out[i] = y <= 0.0f ? 0.0f : y;
        } else {
          out[i] = y;
        }
      });
    }
  });

  input_ = &x;
  batch_ = batch;
  positions_ = positions;
  if constexpr (kThen == Then::ReluMaxPool) return pool->output();
  return output_;
}

template <BatchNorm::Then kThen>
const Tensor& BatchNorm::backward_pass(const Tensor& dy, const MaxPool2d* pool) {
  // Fused with the pooling, dy is dL/d(pool output) and each plane of dL/d(ReLU output) is made from it.
  const Shape expected = !input_                      ? Shape{}
                         : kThen == Then::ReluMaxPool ? shape_of(pool->output())
                                                      : shape_of(*input_);
  if (!input_ || shape_of(dy) != expected)
    throw ShapeError(type() + ": backward got dy " + to_string(shape_of(dy)) + " but expected " +
                     (input_ ? to_string(expected) : std::string("a forward pass first")));
  const float* in = input_->data();
  const float* g = dy.data();
  const std::size_t batch = batch_, positions = positions_;
  const double count = static_cast<double>(batch * positions);
  // dx goes into the output buffer: backward needs x and dy but never y, and nothing reads y after the next
  // layer's backward. That saves a tensor of the input's size (29 MB of cifar-cnn's 204 at batch 128).
  float* dx = output_.data();
  // Fused with a ReLU, dy is dL/d(ReLU output), and the gradient BatchNorm sees is dy where the ReLU output
  // was positive, as ReLU::backward computes it. Where that was is recomputed from x (read anyway) with
  // forward's own operations and coefficients, bit for bit its y: reading y back would be one more pass
  // over a tensor in each of the two loops below, which are bound by memory traffic.
  const float *m = mean_.data(), *norm_scale = norm_scale_.data(), *norm_shift = norm_shift_.data();
  auto relu_passed = [in, m, norm_scale, norm_shift](std::size_t i, std::size_t c) {
    return normalized(in[i], m[c], norm_scale[c], norm_shift[c]) > 0.0f;
  };

  for_channel_ranges(batch, channels_, positions, [&](const Channels& r) {
    // With the pooling, each plane of dy is unpooled into this thread's scratch before its run, in both
    // passes (it stays in cache; the full-size dy never goes to memory). run_at is the run's first index.
    float* plane = kThen == Then::ReluMaxPool
                       ? plane_scratch_.data() + static_cast<std::size_t>(r.worker) * positions
                       : nullptr;
    std::size_t run_at = 0;
    auto hooks = run_hooks(
        [&](std::size_t n, std::size_t c, std::size_t at) {
          if constexpr (kThen == Then::ReluMaxPool) pool->backward_plane(n * channels_ + c, dy, plane);
          run_at = at;
        },
        [](std::size_t, std::size_t) {});
    auto dy_at = [g, plane, &run_at](std::size_t i) {
      if constexpr (kThen == Then::ReluMaxPool) {
        (void)g;
        return plane[i - run_at];
      } else {
        (void)plane, (void)run_at;
        return g[i];
      }
    };
    auto grad = [dy_at, relu_passed](std::size_t i, std::size_t c) {
      if constexpr (kThen != Then::Nothing) {
        // dy or +0, as a bit mask: the lane sums stay vectorized, which a select did not (3× slower).
        const float gi = dy_at(i);
        std::uint32_t bits;
        std::memcpy(&bits, &gi, sizeof bits);
        bits &= relu_passed(i, c) ? ~std::uint32_t{0} : std::uint32_t{0};
        float masked;
        std::memcpy(&masked, &bits, sizeof masked);
        return masked;
      } else {
        (void)relu_passed, (void)c;
        return dy_at(i);
      }
    };

    // Σ dy and Σ dy·(x − μ) per channel: the β and γ gradients, and the two means of the dx formula.
    std::fill(sum_a_.begin() + r.c0, sum_a_.begin() + r.c1, 0.0);
    std::fill(sum_b_.begin() + r.c0, sum_b_.begin() + r.c1, 0.0);
    channel_sums2(
        r, lanes_.data(), sum_a_.data(), sum_b_.data(),
        [grad](std::size_t i, std::size_t c) { return double(grad(i, c)); },
        [grad, in, m](std::size_t i, std::size_t c) { return double(grad(i, c)) * (in[i] - m[c]); }, hooks);
    if (options_.affine) {
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        weight_grad.data()[c] += static_cast<float>(sum_b_[c] * inv_std_[c]);  // Σ dy·x̂
        bias_grad.data()[c] += static_cast<float>(sum_a_[c]);
      }
    }

    // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)), written per channel as scale·dy + slope·(x − μ) + offset.
    // With running statistics μ and σ are constants, so dx = γ/σ · dy.
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      const double inv_std = inv_std_[c];
      const double scale = (options_.affine ? weight.data()[c] : 1.0) * inv_std;
      const double mean_dy = sum_a_[c] / count, mean_dy_xhat = sum_b_[c] * inv_std / count;
      scale_[c] = static_cast<float>(scale);
      slope_[c] = used_batch_stats_ ? static_cast<float>(-scale * inv_std * mean_dy_xhat) : 0.0f;
      offset_[c] = used_batch_stats_ ? static_cast<float>(-scale * mean_dy) : 0.0f;
    }
    const float *scale = scale_.data(), *slope = slope_.data(), *offset = offset_.data();
    for_each_element(
        r,
        [=](std::size_t i, std::size_t c) {
          float gi = dy_at(i);
          if constexpr (kThen != Then::Nothing) gi = relu_passed(i, c) ? gi : 0.0f;
          dx[i] = scale[c] * gi + slope[c] * (in[i] - m[c]) + offset[c];
        },
        hooks);
  });
  return output_;
}

std::vector<Param> BatchNorm::params() {
  if (!options_.affine) return {};
  return {{"weight", &weight, &weight_grad, ParamKind::NormScale},
          {"bias", &bias, &bias_grad, ParamKind::NormShift}};
}

std::vector<Buffer> BatchNorm::buffers() {
  if (!options_.track_running_stats) return {};
  return {{"running_mean", &running_mean},
          {"running_var", &running_var},
          {"num_batches_tracked", &num_batches_tracked}};
}

nlohmann::json BatchNorm::describe() const {
  nlohmann::json momentum =
      options_.momentum ? nlohmann::json(*options_.momentum) : nlohmann::json("cumulative");
  return {{"type", type()},
          {"channels", channels_},
          {"eps", options_.eps},
          {"momentum", momentum},
          {"affine", options_.affine},
          {"track_running_stats", options_.track_running_stats}};
}

}  // namespace bnlab::nn
