// BatchNorm forward and backward: per-channel passes over contiguous [N, C, P] memory, sums in double.
#include "nn/batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/prefetch.hpp"
#include "nn/lane_sum.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "nn/run_moments.hpp"
#include "nn/window_sums.hpp"

namespace bnlab::nn {

namespace detail {
// A block of [N, C, P]: samples [n0, n1) × channels [c0, c1).
struct Block {
  std::size_t batch, channels, positions, n0, n1, c0, c1;
  int worker;  // of the thread pool, for per-thread scratch
};
}  // namespace detail

namespace {

using detail::Block;

// The passes below walk [N, C, P] in memory order over a block of samples and channels. For dense input
// (P = 1) the inner loop runs across channels (per-channel arrays, vectorizable); otherwise along each
// contiguous run of P values. Every sum is taken in the same order whatever the block, so splitting the
// work over threads gives bit-identical results on any thread count.

// Called around each contiguous run of P values (P > 1) with its sample n, channel c and first index: a
// backward pass fused with max pooling unpools one plane of dy into scratch of its thread before its run
// (GradView).
struct NoRunHooks {
  void begin(std::size_t /*n*/, std::size_t /*c*/, std::size_t /*at*/) const {}
  void end(std::size_t /*n*/, std::size_t /*c*/) const {}
};

// f(i) for i in [first, last), prefetch_stream asking for x's lines ahead as it goes.
template <class F>
void for_each_streamed(const float* x, std::size_t first, std::size_t last, F f) {
  for (std::size_t block = first; block < last; block += core::kStreamStep) {
    core::prefetch_stream(x + block);
    const std::size_t end = std::min(block + core::kStreamStep, last);
    for (std::size_t i = block; i < end; ++i) f(i);
  }
}

// Elements of type T from one thread's scratch to the next for `count` of them: rounded up to whole cache
// lines, and one line more, so two threads' scratch never shares a line whatever the vector's alignment
// (for 14×14 maps the unpooling planes did, and every unpooling on two threads fought over it).
template <class T>
std::size_t per_thread_stride(std::size_t count) {
  constexpr std::size_t kLine = core::kCacheLine / sizeof(T);
  return (count + kLine - 1) / kLine * kLine + kLine;
}

// Doubles of block_run_sums2's scratch per thread, for H×W runs.
std::size_t block_scratch_size(std::size_t height, std::size_t width) {
  return per_thread_stride<double>(block_run_scratch(height, width));
}

// Dense input (P = 1): sums_a[c] += Σ term_a(index, c) and sums_b[c] += Σ term_b(index, c) over each
// channel's N values of the block, in sample order, the inner loop across channels.
template <class TermA, class TermB>
void channel_sums2(const Block& r, double* sums_a, double* sums_b, TermA term_a, TermB term_b) {
  for (std::size_t n = r.n0; n < r.n1; ++n)
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      sums_a[c] += term_a(n * r.channels + c, c);
      sums_b[c] += term_b(n * r.channels + c, c);
    }
}

// Images (P > 1): run_a[n·C + c] = Σ term_a(index) and run_b[n·C + c] = Σ term_b(index) over each run of
// the block, in double lanes folded once per run, the terms reading x (streamed: prefetch_stream). Each
// run's sums depend on that run alone, so any split of the samples over threads gives the same numbers.
template <class TermA, class TermB, class Hooks = NoRunHooks>
void each_run_sums2(const Block& r, const float* x, double* run_a, double* run_b, TermA term_a, TermB term_b,
                    const Hooks& hooks = {}) {
  for (std::size_t n = r.n0; n < r.n1; ++n)
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      const std::size_t run = n * r.channels + c, at = run * r.positions;
      hooks.begin(n, c, at);
      run_sums2(
          r.positions, [&](std::size_t p) { return term_a(at + p, c); },
          [&](std::size_t p) { return term_b(at + p, c); },
          [x, at](std::size_t p) { core::prefetch_stream(x + at + p); }, run_a[run], run_b[run]);
      hooks.end(n, c);
    }
}

// each_run_sums2 in 2×2 blocks (block_run_sums2; BatchNorm::set_sums_by_pooling_windows), on rows of
// `width` values, with the thread's scratch `blocks` (block_scratch_size doubles).
template <class TermA, class TermB, class Hooks = NoRunHooks>
void each_run_block_sums2(const Block& r, std::size_t width, const float* x, double* blocks, double* run_a,
                          double* run_b, TermA term_a, TermB term_b, const Hooks& hooks = {}) {
  const std::size_t height = r.positions / width;
  for (std::size_t n = r.n0; n < r.n1; ++n)
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      const std::size_t run = n * r.channels + c, at = run * r.positions;
      hooks.begin(n, c, at);
      block_run_sums2(
          height, width, [&](std::size_t p) { return term_a(at + p, c); },
          [&](std::size_t p) { return term_b(at + p, c); },
          [x, at](std::size_t p) { core::prefetch_stream(x + at + p); }, blocks, run_a[run], run_b[run]);
      hooks.end(n, c);
    }
}

// apply(index, c) for every element of the channels, apply reading x (streamed: prefetch_stream).
template <class Apply, class Hooks = NoRunHooks>
void for_each_element(const Block& r, const float* x, Apply apply, const Hooks& hooks = {}) {
  for (std::size_t n = r.n0; n < r.n1; ++n) {
    if (r.positions == 1) {
      for (std::size_t c = r.c0; c < r.c1; ++c) apply(n * r.channels + c, c);
    } else {
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        const std::size_t at = (n * r.channels + c) * r.positions;
        hooks.begin(n, c, at);
        for_each_streamed(x, at, at + r.positions, [&](std::size_t i) { apply(i, c); });
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

// Floats from one thread's scratch plane to the next.
std::size_t scratch_stride(std::size_t positions) {
  return per_thread_stride<float>(positions);
}

// Inputs smaller than this stay on the calling thread: a hand-off to the pool would cost more.
constexpr std::size_t kParallelElements = 1 << 15;

// The per-channel passes read [N, C] values (dense input, or the per-run moments and sums of images) in
// rows that the layers before wrote split by samples: split by channels, each thread reads half of them
// from the other core's cache. On two threads that made a [128, 256] BatchNorm1d's forward and backward 4×
// as slow as on one (106–120 µs against 27); from about [128, 2048] on, two threads gain again (AMD EPYC
// Zen 5).
constexpr std::size_t kParallelRowElements = 1 << 18;

// Per-channel work (statistics, coefficients) over ranges of channels, each range walked in memory order.
void for_channel_ranges(std::size_t batch, std::size_t channels, std::size_t positions,
                        const std::function<void(const Block&)>& body) {
  if (batch * channels < kParallelRowElements) {
    body({batch, channels, positions, 0, batch, 0, channels, 0});
    return;
  }
  core::parallel_for(channels, [&](std::size_t c0, std::size_t c1, int worker) {
    body({batch, channels, positions, 0, batch, c0, c1, worker});
  });
}

// Passes over the whole tensor, split by samples the way the layers around split theirs (parallel_for
// over the batch): each thread reads the samples it wrote itself. Split by channels, every thread read
// half of its values from the other core's cache, at half the speed (a 4 MB block read on the core that
// wrote it: 75–77 GB/s; on the other: 37–39 GB/s, AMD EPYC Zen 5), and BatchNorm's passes took no less
// time on two threads than on one.
void for_sample_ranges(std::size_t batch, std::size_t channels, std::size_t positions,
                       const std::function<void(const Block&)>& body) {
  if (batch * channels * positions < kParallelElements) {
    body({batch, channels, positions, 0, batch, 0, channels, 0});
    return;
  }
  core::parallel_for(batch, [&](std::size_t n0, std::size_t n1, int worker) {
    body({batch, channels, positions, n0, n1, 0, channels, worker});
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

bool BatchNorm::uses_batch_statistics(Mode mode) const {
  return mode == Mode::Train || !options_.track_running_stats;
}

void BatchNorm::begin_sample_statistics(const Shape& input_shape) {
  const Shape shape = output_shape(input_shape);
  sample_statistics_ready_ = false;
  sample_statistics_shape_ = shape;
  run_mean_.resize(shape[0] * channels_);
  run_m2_.resize(shape[0] * channels_);
}

void BatchNorm::sample_statistics(std::size_t n, const float* y) {
  const std::size_t positions =
      element_count(sample_statistics_shape_) / (sample_statistics_shape_[0] * channels_);
  for (std::size_t c = 0; c < channels_; ++c)
    run_moments(y + c * positions, positions, run_mean_[n * channels_ + c], run_m2_[n * channels_ + c]);
}

void BatchNorm::end_sample_statistics() {
  sample_statistics_ready_ = true;
}

void BatchNorm::running_coefficients(std::size_t c0, std::size_t c1) {
  const float* gamma = options_.affine ? weight.data() : nullptr;
  const float* beta = options_.affine ? bias.data() : nullptr;
  for (std::size_t c = c0; c < c1; ++c) {
    mean_[c] = running_mean.data()[c];
    inv_std_[c] =
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var.data()[c]) + options_.eps));
    norm_scale_[c] = gamma ? gamma[c] * inv_std_[c] : inv_std_[c];
    norm_shift_[c] = beta ? beta[c] : 0.0f;
  }
}

void BatchNorm::begin_eval_relu_pool(const Shape& input_shape, MaxPool2d& pool) {
  const Shape shape = output_shape(input_shape);
  if (uses_batch_statistics(Mode::Eval))
    throw Error(type() + ": begin_eval_relu_pool needs running statistics (track_running_stats)");
  used_batch_stats_ = false;
  sample_statistics_ready_ = false;
  batch_ = shape[0];
  positions_ = element_count(shape) / (batch_ * channels_);
  width_ = shape.back();
  running_coefficients(0, channels_);
  ensure_shape(output_, shape);  // backward's dx, as after forward_relu_pool
  plane_scratch_.resize(static_cast<std::size_t>(core::threads()) * scratch_stride(positions_));
  pool.begin_forward(shape, /*then_relu=*/true);
  eval_pool_ = &pool;
}

void BatchNorm::eval_relu_pool_sample(std::size_t n, const float* y) {
  for (std::size_t c = 0; c < channels_; ++c)
    eval_pool_->forward_plane(n * channels_ + c, y + c * positions_,
                              MaxPool2d::AffineRelu{mean_[c], norm_scale_[c], norm_shift_[c]});
}

const Tensor& BatchNorm::end_eval_relu_pool() {
  input_ = nullptr;  // until restore_input
  MaxPool2d* pool = eval_pool_;
  eval_pool_ = nullptr;
  return pool->output();
}

void BatchNorm::restore_input(const Tensor& x) {
  const Shape shape = output_shape(shape_of(x));
  if (shape[0] != batch_ || element_count(shape) != batch_ * channels_ * positions_)
    throw ShapeError(type() + ": restore_input got " + to_string(shape) + ", not the last forward's input");
  input_ = &x;
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
  return backward_pass(dy, Then::Nothing, nullptr);
}

const Tensor& BatchNorm::backward_relu(const Tensor& dy) {
  return backward_pass(dy, Then::Relu, nullptr);
}

const Tensor& BatchNorm::backward_relu_pool(const Tensor& dy, const MaxPool2d& pool) {
  return backward_pass(dy, Then::ReluMaxPool, &pool);
}

template <BatchNorm::Then kThen>
const Tensor& BatchNorm::forward_pass(const Tensor& x, Mode mode, MaxPool2d* pool) {
  const Shape shape = output_shape(shape_of(x));
  const std::size_t batch = shape[0], positions = element_count(shape) / (batch * channels_);
  const std::size_t count = batch * positions;  // values per channel
  width_ = shape.size() > 2 ? shape.back() : 1;
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
    // The inputs at the windows' maxima, for backward's sums over the windows (backward_run_sums_of).
    pool->begin_forward(shape, /*then_relu=*/true, /*keep_window_inputs=*/sums_by_pooling_windows_);
    plane_scratch_.resize(static_cast<std::size_t>(core::threads()) * scratch_stride(positions));
  }

  // Images: each run's moments (taken here, or by the layer before while its output was in cache), then
  // combined per channel in sample order.
  const bool per_run = used_batch_stats_ && positions > 1;
  const bool moments_taken = per_run && sample_statistics_ready_ && sample_statistics_shape_ == shape;
  sample_statistics_ready_ = false;
  if (per_run) {
    run_mean_.resize(batch * channels_);
    run_m2_.resize(batch * channels_);
  }

  if (per_run && !moments_taken)
    for_sample_ranges(batch, channels_, positions, [&](const Block& r) {
      for (std::size_t n = r.n0; n < r.n1; ++n)
        for (std::size_t c = r.c0; c < r.c1; ++c) {
          const std::size_t run = n * channels_ + c;
          run_moments(in + run * positions, positions, run_mean_[run], run_m2_[run]);
        }
    });

  // The statistics and the normalization's coefficients, channel by channel.
  for_channel_ranges(batch, channels_, positions, [&](const Block& r) {
    if (per_run) {
      // Chan et al.'s pairwise update, run by run in sample order; across the channels in the inner loop,
      // which vectorizes (each channel's operations are the same, in the same order).
      double *mean = sum_a_.data(), *m2 = sum_b_.data();
      std::copy(run_mean_.begin() + r.c0, run_mean_.begin() + r.c1, mean + r.c0);
      std::copy(run_m2_.begin() + r.c0, run_m2_.begin() + r.c1, m2 + r.c0);
      for (std::size_t n = 1; n < batch; ++n) {
        const double before = static_cast<double>(n * positions),
                     total = before + static_cast<double>(positions);
        const double *run_mean = run_mean_.data() + n * channels_, *run_m2 = run_m2_.data() + n * channels_;
        for (std::size_t c = r.c0; c < r.c1; ++c) {
          const double delta = run_mean[c] - mean[c];
          mean[c] += delta * static_cast<double>(positions) / total;
          m2[c] += run_m2[c] + delta * delta * before * static_cast<double>(positions) / total;
        }
      }
    } else if (used_batch_stats_) {
      // Dense input: one pass of Σd and Σd² in double across the channels, d = x − x₀ with x₀ the
      // channel's first value (in[c]): shifting by a value of the channel keeps the variance accurate when
      // |mean| ≫ σ (as the two-pass formula does) while reading the input once instead of twice.
      auto d = [in](std::size_t i, std::size_t c) { return double(in[i]) - double(in[c]); };
      std::fill(sum_a_.begin() + r.c0, sum_a_.begin() + r.c1, 0.0);
      std::fill(sum_b_.begin() + r.c0, sum_b_.begin() + r.c1, 0.0);
      channel_sums2(r, sum_a_.data(), sum_b_.data(), d, [d](std::size_t i, std::size_t c) {
        const double v = d(i, c);
        return v * v;
      });
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        const double mean_shifted = sum_a_[c] / static_cast<double>(count);
        sum_a_[c] = in[c] + mean_shifted;
        // Σ(x − μ)² = Σd² − N·mean(d)²; |mean(d)| is of the order of σ, so little cancels.
        sum_b_[c] = std::max(0.0, sum_b_[c] - static_cast<double>(count) * mean_shifted * mean_shifted);
      }
    }
    if (used_batch_stats_) {
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
      running_coefficients(r.c0, r.c1);
    }
    const float* gamma = options_.affine ? weight.data() : nullptr;
    const float* beta = options_.affine ? bias.data() : nullptr;
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      norm_scale_[c] = gamma ? gamma[c] * inv_std_[c] : inv_std_[c];
      norm_shift_[c] = beta ? beta[c] : 0.0f;
    }
  });

  // The normalization, sample by sample.
  const float *m = mean_.data(), *scale = norm_scale_.data(), *shift = norm_shift_.data();
  for_sample_ranges(batch, channels_, positions, [&](const Block& r) {
    if constexpr (kThen == Then::ReluMaxPool) {
      // The pooling reads x and takes max(normalized(x), 0) value by value (the same operations as
      // normalized() and ReLU::forward), so no plane of y is written.
      for (std::size_t n = r.n0; n < r.n1; ++n)
        for (std::size_t c = r.c0; c < r.c1; ++c) {
          pool->forward_plane(n * channels_ + c, in + (n * channels_ + c) * positions,
                              MaxPool2d::AffineRelu{m[c], scale[c], shift[c]});
        }
    } else {
      for_each_element(r, in, [=](std::size_t i, std::size_t c) {
        const float y = normalized(in[i], m[c], scale[c], shift[c]);
        // rectified(), as ReLU::forward, so the fused output is bit-identical.
        if constexpr (kThen == Then::Relu) {
          out[i] = rectified(y);
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

namespace detail {

// How backward reads dL/d(its output) at index i of [N, C, P]: dy itself, or fused with a ReLU masked
// where the ReLU passed nothing, or fused with the ReLU and the pooling made plane by plane in a scratch
// plane (begin unpools the plane of the run starting at index at, masked by the pooled output). With the
// ReLU alone, where it passed is recomputed from x (read anyway) with forward's own operations and
// coefficients, bit for bit its y: reading y back would be one more pass over a tensor in each backward
// loop, and those loops are bound by memory traffic.
template <BatchNorm::Then kThen>
struct GradView {
  const float *in, *mean, *norm_scale, *norm_shift, *dy;
  const Tensor* dy_tensor;
  const MaxPool2d* pool;
  std::size_t channels;
  float* plane;                    // this thread's [P] scratch, with the pooling
  mutable std::size_t run_at = 0;  // first index of the current run, with the pooling

  void begin(std::size_t n, std::size_t c, std::size_t at) const {
    // Unpooled through the ReLU (dy kept where the pooled output is positive): at a window's argmax that
    // is where normalized(x) > 0, and elsewhere the gradient is +0 either way, so the plane is already
    // masked bit for bit as masked() and selected() would mask it.
    if constexpr (kThen == BatchNorm::Then::ReluMaxPool)
      pool->backward_plane(n * channels + c, *dy_tensor, plane);
    run_at = at;
  }
  void end(std::size_t, std::size_t) const {}

  float dy_at(std::size_t i) const {
    if constexpr (kThen == BatchNorm::Then::ReluMaxPool) return plane[i - run_at];
    return dy[i];
  }
  bool relu_passed(std::size_t i, std::size_t c) const {
    return normalized(in[i], mean[c], norm_scale[c], norm_shift[c]) > 0.0f;
  }
  // For the sums: dy or +0, as a bit mask, so the lane sums stay vectorized (a select was 3× slower).
  float masked(std::size_t i, std::size_t c) const {
    const float gi = dy_at(i);
    if constexpr (kThen != BatchNorm::Then::Relu) {
      (void)c;
      return gi;
    } else {
      std::uint32_t bits;
      std::memcpy(&bits, &gi, sizeof bits);
      bits &= relu_passed(i, c) ? ~std::uint32_t{0} : std::uint32_t{0};
      float out;
      std::memcpy(&out, &bits, sizeof out);
      return out;
    }
  }
  // The terms of backward's two sums: dy (masked) and dy·(x − μ), in double.
  double dy_term(std::size_t i, std::size_t c) const { return double(masked(i, c)); }
  double dy_xc_term(std::size_t i, std::size_t c) const { return double(masked(i, c)) * (in[i] - mean[c]); }
  // The same, +0 wherever dy is (sums by pooling windows: dy_xc).
  double dy_xc_term_masked(std::size_t i, std::size_t c) const { return dy_xc(masked(i, c), in[i], mean[c]); }
  // For dx, a select: this loop vectorizes with it.
  float selected(std::size_t i, std::size_t c) const {
    const float gi = dy_at(i);
    if constexpr (kThen != BatchNorm::Then::Relu) {
      (void)c;
      return gi;
    } else {
      return relu_passed(i, c) ? gi : 0.0f;
    }
  }
};

}  // namespace detail

using detail::GradView;

namespace {
// f(std::integral_constant<Then, then>{}): a run-time Then to the pass compiled for it.
template <class F>
void with_then(BatchNorm::Then then, F f) {
  using Then = BatchNorm::Then;
  switch (then) {
    case Then::Nothing:
      return f(std::integral_constant<Then, Then::Nothing>{});
    case Then::Relu:
      return f(std::integral_constant<Then, Then::Relu>{});
    case Then::ReluMaxPool:
      return f(std::integral_constant<Then, Then::ReluMaxPool>{});
  }
}
}  // namespace

const Tensor& BatchNorm::backward_pass(const Tensor& dy, Then then, const MaxPool2d* pool) {
  backward_sums(dy, then, pool);
  for_sample_ranges(batch_, channels_, positions_, [&](const Block& r) {
    with_then(then_, [&](auto then_c) { backward_apply<decltype(then_c)::value>(r); });
  });
  return output_;
}

void BatchNorm::backward_sums(const Tensor& dy, Then then, const MaxPool2d* pool) {
  // Fused with the pooling, dy is dL/d(pool output) and each plane of dL/d(ReLU output) is made from it.
  const Shape expected = !input_                     ? Shape{}
                         : then == Then::ReluMaxPool ? shape_of(pool->output())
                                                     : shape_of(*input_);
  if (!input_ || shape_of(dy) != expected)
    throw ShapeError(type() + ": backward got dy " + to_string(shape_of(dy)) + " but expected " +
                     (input_ ? to_string(expected) : std::string("a forward pass first")));
  if (then == Then::ReluMaxPool &&
      plane_scratch_.size() < static_cast<std::size_t>(core::threads()) * scratch_stride(positions_))
    throw Error(type() + ": backward_relu_pool without forward_relu_pool before it");
  dy_ = &dy;
  then_ = then;
  pool_ = pool;
  // Images: each run's sums sample by sample, then added per channel in sample order.
  if (positions_ > 1) {
    run_dy_sum_.resize(batch_ * channels_);
    run_dy_xc_sum_.resize(batch_ * channels_);
    if (sums_by_pooling_windows_) {
      block_scratch_.resize(static_cast<std::size_t>(core::threads()) *
                            block_scratch_size(positions_ / width_, width_));
      if (then == Then::ReluMaxPool)
        window_scratch_.resize(static_cast<std::size_t>(core::threads()) * window_scratch_stride());
    }
    for_sample_ranges(batch_, channels_, positions_, [&](const Block& r) {
      with_then(then, [&](auto then_c) { backward_run_sums_of<decltype(then_c)::value>(r); });
    });
  }
  for_channel_ranges(batch_, channels_, positions_, [&](const Block& r) {
    with_then(then, [&](auto then_c) { backward_sums_of<decltype(then_c)::value>(r); });
  });
}

std::size_t BatchNorm::window_scratch_stride() const {
  return per_thread_stride<float>(channels_ * pool_->windows_per_plane());
}

template <BatchNorm::Then kThen>
auto BatchNorm::grad_view(int worker) {
  float* plane = kThen == Then::ReluMaxPool
                     ? plane_scratch_.data() + static_cast<std::size_t>(worker) * scratch_stride(positions_)
                     : nullptr;
  return GradView<kThen>{
      input_->data(), mean_.data(), norm_scale_.data(), norm_shift_.data(), dy_->data(), dy_, pool_,
      channels_,      plane};
}

template <BatchNorm::Then kThen>
void BatchNorm::backward_run_sums_of(const Block& r) {
  const GradView<kThen> view = grad_view<kThen>(r.worker);
  auto dy_term = [&view](std::size_t i, std::size_t c) { return view.dy_term(i, c); };
  if (!sums_by_pooling_windows_) {
    each_run_sums2(
        r, input_->data(), run_dy_sum_.data(), run_dy_xc_sum_.data(), dy_term,
        [&view](std::size_t i, std::size_t c) { return view.dy_xc_term(i, c); }, view);
    return;
  }
  if constexpr (kThen == Then::ReluMaxPool) {
    // 2×2 windows with the inputs at their maxima kept, on rows of even width (so that the windows are the
    // blocks of block_run_sums2): the sums over each plane's windows, a quarter of its values, are those
    // over the unpooled plane, without unpooling it or reading x.
    if (pool_->keeps_window_inputs() && width_ % 2 == 0) {
      const std::size_t windows = pool_->windows_per_plane();
      float* routed = window_scratch_.data() + static_cast<std::size_t>(r.worker) * window_scratch_stride();
      for (std::size_t n = r.n0; n < r.n1; ++n) {
        pool_->window_gradients(n * channels_ + r.c0, r.c1 - r.c0, *dy_, routed);
        for (std::size_t c = r.c0; c < r.c1; ++c) {
          const std::size_t run = n * channels_ + c;
          const float* inputs = pool_->window_inputs(run);
          // Kept by the forward, they come from memory.
          for (std::size_t q = 0; q < windows; q += core::kStreamStep) core::prefetch_stream(inputs + q);
          window_sums(windows, routed + (c - r.c0) * windows, inputs, mean_[c], run_dy_sum_[run],
                      run_dy_xc_sum_[run]);
        }
      }
      return;
    }
  }
  each_run_block_sums2(
      r, width_, input_->data(),
      block_scratch_.data() +
          static_cast<std::size_t>(r.worker) * block_scratch_size(positions_ / width_, width_),
      run_dy_sum_.data(), run_dy_xc_sum_.data(), dy_term,
      [&view](std::size_t i, std::size_t c) { return view.dy_xc_term_masked(i, c); }, view);
}

template <BatchNorm::Then kThen>
void BatchNorm::backward_sums_of(const Block& r) {
  // Σ dy and Σ dy·(x − μ) per channel: the β and γ gradients, and the two means of the dx formula.
  std::fill(sum_a_.begin() + r.c0, sum_a_.begin() + r.c1, 0.0);
  std::fill(sum_b_.begin() + r.c0, sum_b_.begin() + r.c1, 0.0);
  if (positions_ > 1) {
    for (std::size_t n = 0; n < batch_; ++n)
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        sum_a_[c] += run_dy_sum_[n * channels_ + c];
        sum_b_[c] += run_dy_xc_sum_[n * channels_ + c];
      }
  } else {
    const GradView<kThen> view = grad_view<kThen>(r.worker);
    channel_sums2(
        r, sum_a_.data(), sum_b_.data(), [&view](std::size_t i, std::size_t c) { return view.dy_term(i, c); },
        [&view](std::size_t i, std::size_t c) { return view.dy_xc_term(i, c); });
  }
  if (options_.affine) {
    for (std::size_t c = r.c0; c < r.c1; ++c) {
      weight_grad.data()[c] += static_cast<float>(sum_b_[c] * inv_std_[c]);  // Σ dy·x̂
      bias_grad.data()[c] += static_cast<float>(sum_a_[c]);
    }
  }
  // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)), written per channel as scale·dy + slope·(x − μ) + offset.
  // With running statistics μ and σ are constants, so dx = γ/σ · dy.
  const double count = static_cast<double>(batch_ * positions_);
  for (std::size_t c = r.c0; c < r.c1; ++c) {
    const double inv_std = inv_std_[c];
    const double scale = (options_.affine ? weight.data()[c] : 1.0) * inv_std;
    const double mean_dy = sum_a_[c] / count, mean_dy_xhat = sum_b_[c] * inv_std / count;
    scale_[c] = static_cast<float>(scale);
    slope_[c] = used_batch_stats_ ? static_cast<float>(-scale * inv_std * mean_dy_xhat) : 0.0f;
    offset_[c] = used_batch_stats_ ? static_cast<float>(-scale * mean_dy) : 0.0f;
  }
}

template <BatchNorm::Then kThen>
void BatchNorm::backward_apply(const Block& r) {
  const float* in = input_->data();
  // dx goes into the output buffer: backward needs x and dy but never y, and nothing reads y after the next
  // layer's backward. That saves a tensor of the input's size (29 MB of cifar-cnn's 204 at batch 128).
  float* dx = output_.data();
  if constexpr (kThen == Then::ReluMaxPool) {
    // The pooling unpools dy and applies the formula as it goes (GradAffine).
    for (std::size_t n = r.n0; n < r.n1; ++n)
      for (std::size_t c = r.c0; c < r.c1; ++c) {
        const std::size_t run = n * channels_ + c, at = run * positions_;
        pool_->backward_plane(run, *dy_, in + at, grad_affine(c), dx + at);
      }
    return;
  }
  const GradView<kThen> view = grad_view<kThen>(r.worker);
  const float* m = mean_.data();
  const float *scale = scale_.data(), *slope = slope_.data(), *offset = offset_.data();
  // GradAffine's formula written out: called through it, this loop ran scalar (dx of [128, 64, 14, 14]
  // after a ReLU: 0.24 → 10.5 ms).
  for_each_element(
      r, in,
      [&view, in, m, scale, slope, offset, dx](std::size_t i, std::size_t c) {
        dx[i] = scale[c] * view.selected(i, c) + slope[c] * (in[i] - m[c]) + offset[c];
      },
      view);
}

MaxPool2d::GradAffine BatchNorm::grad_affine(std::size_t c) const {
  return {mean_[c], scale_[c], slope_[c], offset_[c]};
}

void BatchNorm::backward_sample(std::size_t n, int worker, float* dx) {
  with_then(then_, [&](auto then_c) { backward_sample_of<decltype(then_c)::value>(n, worker, dx); });
}

template <BatchNorm::Then kThen>
void BatchNorm::backward_sample_of(std::size_t n, int worker, float* dx) {
  const GradView<kThen> view = grad_view<kThen>(worker);
  const float *in = input_->data(), *m = mean_.data();
  const float *scale = scale_.data(), *slope = slope_.data(), *offset = offset_.data();
  // The same formula as backward_apply, on sample n's channels; dx is [C, P].
  for (std::size_t c = 0; c < channels_; ++c) {
    const std::size_t at = (n * channels_ + c) * positions_;
    float* out = dx + c * positions_;
    if (c + 1 < channels_) core::prefetch(in + at + positions_, positions_ * sizeof(float));  // the next run
    if constexpr (kThen == Then::ReluMaxPool) {
      pool_->backward_plane(n * channels_ + c, *dy_, in + at, grad_affine(c), out);
    } else {
      for (std::size_t i = at; i < at + positions_; ++i)
        out[i - at] = scale[c] * view.selected(i, c) + slope[c] * (in[i] - m[c]) + offset[c];
    }
  }
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
