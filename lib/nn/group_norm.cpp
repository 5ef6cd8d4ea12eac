// GroupNorm forward and backward: one segment_norm block per (sample, group), contiguous in NCHW.
#include "nn/group_norm.hpp"

#include <algorithm>

#include "core/error.hpp"

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

const Tensor& GroupNorm::forward(const Tensor& x, Mode) {
  const Shape shape = output_shape(shape_of(x));
  const std::size_t batch = shape[0], group_channels = channels_ / groups_;
  positions_ = element_count(shape) / (batch * channels_);
  const std::size_t block = group_channels * positions_;
  ensure_shape(output_, shape);
  stats_.resize(batch * groups_);
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

const Tensor& GroupNorm::backward(const Tensor& dy) {
  if (!input_ || shape_of(dy) != shape_of(*input_))
    throw ShapeError("groupnorm: backward got dy " + to_string(shape_of(dy)) +
                     " but the last forward input was " +
                     (input_ ? to_string(shape_of(*input_)) : std::string("none")));
  const std::size_t batch = dy.shape()[0], group_channels = channels_ / groups_;
  const std::size_t block = group_channels * positions_;
  ensure_shape(input_grad_, shape_of(dy));
  // Each (sample, channel)'s Σ dy·x̂ and Σ dy, taken with dx sample by sample (split over the pool), then
  // added over the batch in sample order: the same sums in the same order on any number of threads.
  if (options_.affine) {
    channel_dy_xhat_.resize(batch * channels_);
    channel_dy_.resize(batch * channels_);
  }
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
  if (!options_.affine) return input_grad_;
  std::fill(dweight_acc_.begin(), dweight_acc_.end(), 0.0);
  std::fill(dbias_acc_.begin(), dbias_acc_.end(), 0.0);
  for (std::size_t n = 0; n < batch; ++n)
    for (std::size_t c = 0; c < channels_; ++c) {
      dweight_acc_[c] += channel_dy_xhat_[n * channels_ + c];
      dbias_acc_[c] += channel_dy_[n * channels_ + c];
    }
  for (std::size_t c = 0; c < channels_; ++c) {
    weight_grad.data()[c] += static_cast<float>(dweight_acc_[c]);
    bias_grad.data()[c] += static_cast<float>(dbias_acc_[c]);
  }
  return input_grad_;
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
