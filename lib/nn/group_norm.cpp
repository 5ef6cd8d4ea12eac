// GroupNorm forward and backward: one segment_norm block per (sample, group), contiguous in NCHW.
#include "nn/group_norm.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "nn/max_pool2d.hpp"

namespace bnlab::nn {

GroupNorm::GroupNorm(std::size_t groups, std::size_t channels, const GroupNormOptions& options)
    : groups_(groups), channels_(channels), options_(options) {
  if (groups == 0 || channels == 0)
    throw ShapeError("groupnorm: groups and channels must be positive, got " + std::to_string(groups) +
                     " groups and " + std::to_string(channels) + " channels");
  if (channels % groups != 0)
    throw ShapeError("groupnorm: " + std::to_string(groups) + " groups do not divide " +
                     std::to_string(channels) + " channels");
  if (!(options.eps > 0.0))
    throw ConfigError("groupnorm eps must be positive, got " + std::to_string(options.eps));
  if (options_.affine) {
    weight = xt::ones<float>({channels});
    bias = xt::zeros<float>({channels});
    weight_grad = xt::zeros<float>({channels});
    bias_grad = xt::zeros<float>({channels});
    dweight_acc_.resize(channels);
    dbias_acc_.resize(channels);
  }
}

Shape GroupNorm::output_shape(const Shape& in) const {
  if (in.size() < 2 || in[1] != channels_)
    throw ShapeError("groupnorm expects input [N, " + std::to_string(channels_) + "] or [N, " +
                     std::to_string(channels_) + ", H, W], got " + to_string(in));
  return in;
}

segment_norm::Affine GroupNorm::group_affine(std::size_t group) const {
  if (!options_.affine) return {};
  const std::size_t first = group * (channels_ / groups_);
  return {weight.data() + first, bias.data() + first, false};
}

Shape GroupNorm::begin_forward(const Shape& in) {
  const Shape shape = output_shape(in);
  positions_ = element_count(shape) / (shape[0] * channels_);
  stats_.resize(shape[0] * groups_);
  return shape;
}

const Tensor& GroupNorm::forward(const Tensor& x, Mode) {
  const Shape shape = begin_forward(shape_of(x));
  const std::size_t batch = shape[0], group_channels = channels_ / groups_;
  const std::size_t block = group_channels * positions_;
  ensure_shape(output_, shape);
  // Samples are independent: split over the pool, every block computed as on one thread.
  segment_norm::for_ranges(batch, channels_ * positions_, [&](std::size_t first, std::size_t last) {
    for (std::size_t n = first; n < last; ++n)
      for (std::size_t g = 0; g < groups_; ++g) {
        const std::size_t at = (n * groups_ + g) * block;
        stats_[n * groups_ + g] = segment_norm::forward(x.data() + at, output_.data() + at, group_channels,
                                                        positions_, options_.eps, group_affine(g));
      }
  });
  input_ = &x;
  return output_;
}

void GroupNorm::begin_backward(std::size_t batch) {
  // Each (sample, channel)'s Σ dy·x̂ and Σ dy, taken with dx sample by sample (from any thread), then added
  // over the batch in sample order: the same sums in the same order on any number of threads.
  if (options_.affine) {
    channel_dy_xhat_.resize(batch * channels_);
    channel_dy_.resize(batch * channels_);
  }
}

void GroupNorm::add_parameter_grads(std::size_t batch) {
  if (!options_.affine) return;
  std::fill(dweight_acc_.begin(), dweight_acc_.end(), 0.0);
  std::fill(dbias_acc_.begin(), dbias_acc_.end(), 0.0);
  segment_norm::add_channel_grads(batch, channels_, channel_dy_xhat_.data(), channel_dy_.data(),
                                  dweight_acc_.data(), dbias_acc_.data());
  for (std::size_t c = 0; c < channels_; ++c) {
    weight_grad.data()[c] += static_cast<float>(dweight_acc_[c]);
    bias_grad.data()[c] += static_cast<float>(dbias_acc_[c]);
  }
}

const Tensor& GroupNorm::backward(const Tensor& dy) {
  if (!input_ || shape_of(dy) != shape_of(*input_))
    throw ShapeError("groupnorm: backward got dy " + to_string(shape_of(dy)) +
                     " but the last forward input was " +
                     (input_ ? to_string(shape_of(*input_)) : std::string("none")));
  const std::size_t batch = dy.shape()[0], group_channels = channels_ / groups_;
  const std::size_t block = group_channels * positions_;
  ensure_shape(input_grad_, shape_of(dy));
  begin_backward(batch);
  segment_norm::for_ranges(batch, channels_ * positions_, [&](std::size_t first, std::size_t last) {
    for (std::size_t n = first; n < last; ++n)
      for (std::size_t g = 0; g < groups_; ++g) {
        const std::size_t at = (n * groups_ + g) * block, sums_at = n * channels_ + g * group_channels;
        segment_norm::backward(input_->data() + at, dy.data() + at, input_grad_.data() + at, group_channels,
                               positions_, stats_[n * groups_ + g], group_affine(g),
                               options_.affine ? segment_norm::GradSinks{channel_dy_xhat_.data() + sums_at,
                                                                         channel_dy_.data() + sums_at}
                                               : segment_norm::GradSinks{});
      }
  });
  add_parameter_grads(batch);
  return input_grad_;
}

void GroupNorm::begin_relu(const Shape& input_shape, MaxPool2d* pool) {
  const Shape shape = begin_forward(input_shape);
  if (shape.size() != 4) throw ShapeError("groupnorm: a ReLU fused after it needs [N, C, H, W] input");
  begin_block_output(pool, shape, output_);
  pool_ = pool;
  input_ = nullptr;  // until end_relu
}

void GroupNorm::relu_sample(std::size_t n, int, const float* x) {
  const std::size_t group_channels = channels_ / groups_, block = group_channels * positions_;
  if (!pool_) {
    // forward's blocks for this sample, then the ReLU on them while in cache.
    float* y = output_.data() + n * channels_ * positions_;
    for (std::size_t g = 0; g < groups_; ++g)
      stats_[n * groups_ + g] = segment_norm::forward(x + g * block, y + g * block, group_channels,
                                                      positions_, options_.eps, group_affine(g));
    rectify(y, channels_ * positions_);
    return;
  }
  const float* gamma = options_.affine ? weight.data() : nullptr;
  const float* beta = options_.affine ? bias.data() : nullptr;
  for (std::size_t g = 0; g < groups_; ++g) {
    const segment_norm::Stats stats = segment_norm::statistics(x + g * block, block, options_.eps);
    stats_[n * groups_ + g] = stats;
    // forward's y = (x − μ)·(1/σ·γ) + β, the same operations (an added +0 without affine changes no
    // rectified value), taken value by value by the pooling.
    for (std::size_t c = g * group_channels; c < (g + 1) * group_channels; ++c)
      pool_->forward_plane(n * channels_ + c, x + c * positions_,
                           MaxPool2d::AffineRelu{stats.mean, gamma ? stats.inv_std * gamma[c] : stats.inv_std,
                                                 beta ? beta[c] : 0.0f});
  }
}

const Tensor& GroupNorm::end_relu(const Tensor& x) {
  if (output_shape(shape_of(x))[0] * groups_ != stats_.size())
    throw ShapeError("groupnorm: end_relu got " + to_string(shape_of(x)) + ", not the input begun with");
  input_ = &x;
  const std::size_t workers = static_cast<std::size_t>(core::threads());
  plane_scratch_.resize(workers * channels_ * positions_);
  return pool_ ? pool_->output() : output_;
}

void GroupNorm::begin_backward_relu(const Tensor& dy) {
  check_block_grad(input_, pool_, output_, dy);
  block_grad_ = &dy;
  begin_backward(shape_of(*input_)[0]);
}

void GroupNorm::backward_relu_sample(std::size_t n, int worker, float* dx) {
  const Tensor& dy = *block_grad_;
  const std::size_t group_channels = channels_ / groups_, block = group_channels * positions_;
  float* plane = plane_scratch_.data() + static_cast<std::size_t>(worker) * channels_ * positions_;
  for (std::size_t c = 0; c < channels_; ++c)
    output_grad_plane(pool_, dy, output_, n * channels_ + c, positions_, plane + c * positions_);
  const float* x = input_->data() + n * channels_ * positions_;
  for (std::size_t g = 0; g < groups_; ++g) {
    const std::size_t sums_at = n * channels_ + g * group_channels;
    segment_norm::backward(x + g * block, plane + g * block, dx + g * block, group_channels, positions_,
                           stats_[n * groups_ + g], group_affine(g),
                           options_.affine ? segment_norm::GradSinks{channel_dy_xhat_.data() + sums_at,
                                                                     channel_dy_.data() + sums_at}
                                           : segment_norm::GradSinks{});
  }
}

void GroupNorm::end_backward_relu() {
  add_parameter_grads(shape_of(*input_)[0]);
}

void GroupNorm::initialize(core::Rng&) {
  if (!options_.affine) return;
  std::fill(weight.begin(), weight.end(), 1.0f);
  std::fill(bias.begin(), bias.end(), 0.0f);
}

std::vector<Param> GroupNorm::params() {
  if (!options_.affine) return {};
  return {{"weight", &weight, &weight_grad, ParamKind::NormScale},
          {"bias", &bias, &bias_grad, ParamKind::NormShift}};
}

nlohmann::json GroupNorm::describe() const {
  return {{"type", type()},
          {"groups", groups_},
          {"channels", channels_},
          {"eps", options_.eps},
          {"affine", options_.affine}};
}

}  // namespace bnlab::nn
