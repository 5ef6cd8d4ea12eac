// LayerNorm forward and backward: one segment_norm block per sample.
#include "nn/layer_norm.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "nn/max_pool2d.hpp"

namespace bnlab::nn {

LayerNorm::LayerNorm(Shape normalized_shape, const LayerNormOptions& options)
    : normalized_shape_(std::move(normalized_shape)), options_(options) {
  features_ = element_count(normalized_shape_);
  if (normalized_shape_.empty() || features_ == 0)
    throw ShapeError("layernorm: the normalized shape must be non-empty with positive sizes, got " +
                     to_string(normalized_shape_));
  if (!(options.eps > 0.0))
    throw ConfigError("layernorm eps must be positive, got " + std::to_string(options.eps));
  // Per-element affine (or none) sees the sample as one run of features; per-channel as C runs.
  const bool per_channel = options_.affine && options_.per_channel_affine;
  channels_ = per_channel ? normalized_shape_[0] : 1;
  positions_ = features_ / channels_;
  if (options_.affine) {
    const Shape param_shape = per_channel ? Shape{channels_} : normalized_shape_;
    weight = xt::ones<float>(param_shape);
    bias = xt::zeros<float>(param_shape);
    weight_grad = xt::zeros<float>(param_shape);
    bias_grad = xt::zeros<float>(param_shape);
    dweight_acc_.resize(weight.size());
    dbias_acc_.resize(bias.size());
  }
}

Shape LayerNorm::output_shape(const Shape& in) const {
  if (in.size() != normalized_shape_.size() + 1 ||
      !std::equal(normalized_shape_.begin(), normalized_shape_.end(), in.begin() + 1))
    throw ShapeError("layernorm over per-sample shape " + to_string(normalized_shape_) + " got input " +
                     to_string(in));
  return in;
}

segment_norm::Affine LayerNorm::affine() const {
  if (!options_.affine) return {};
  return {weight.data(), bias.data(), !options_.per_channel_affine};
}

const Tensor& LayerNorm::forward(const Tensor& x, Mode) {
  const Shape shape = output_shape(shape_of(x));
  const std::size_t batch = shape[0];
  ensure_shape(output_, shape);
  stats_.resize(batch);
  const segment_norm::Affine aff = affine();
  // Samples are independent: split over the pool, every sample computed as on one thread.
  segment_norm::for_ranges(batch, features_, [&](std::size_t first, std::size_t last) {
    for (std::size_t n = first; n < last; ++n)
      stats_[n] = segment_norm::forward(x.data() + n * features_, output_.data() + n * features_, channels_,
                                        positions_, options_.eps, aff);
  });
  input_ = &x;
  return output_;
}

const Tensor& LayerNorm::backward(const Tensor& dy) {
  if (!input_ || shape_of(dy) != shape_of(*input_))
    throw ShapeError("layernorm: backward got dy " + to_string(shape_of(dy)) +
                     " but the last forward input was " +
                     (input_ ? to_string(shape_of(*input_)) : std::string("none")));
  const std::size_t batch = dy.shape()[0];
  ensure_shape(input_grad_, shape_of(dy));
  const segment_norm::Affine aff = affine();
  const bool per_channel = options_.affine && options_.per_channel_affine;
  if (per_channel) {
    channel_dy_xhat_.resize(batch * channels_);
    channel_dy_.resize(batch * channels_);
  }
  if (options_.affine) {
    std::fill(dweight_acc_.begin(), dweight_acc_.end(), 0.0);
    std::fill(dbias_acc_.begin(), dbias_acc_.end(), 0.0);
  }
  // dx sample by sample, split over the pool; the γ/β gradients add over the batch in sample order on any
  // number of threads. Per channel, each sample's Σ dy·x̂ and Σ dy per channel are kept and added
  // afterwards. Per element, on one thread each sample adds its part while it is in cache; split over
  // threads, a second pass splits the elements instead, each thread adding its range over the samples.
  const bool per_element = options_.affine && !per_channel;
  const bool split = segment_norm::splits(batch, features_);
  segment_norm::for_ranges(batch, features_, [&](std::size_t first, std::size_t last) {
    for (std::size_t n = first; n < last; ++n) {
      segment_norm::GradSinks sinks;
      if (per_channel) sinks = {channel_dy_xhat_.data() + n * channels_, channel_dy_.data() + n * channels_};
      if (per_element && !split) sinks = {nullptr, nullptr, dweight_acc_.data(), dbias_acc_.data()};
      segment_norm::backward(input_->data() + n * features_, dy.data() + n * features_,
                             input_grad_.data() + n * features_, channels_, positions_, stats_[n], aff,
                             sinks);
    }
  });
  if (!options_.affine) return input_grad_;
  if (per_channel) {
    segment_norm::add_channel_grads(batch, channels_, channel_dy_xhat_.data(), channel_dy_.data(),
                                    dweight_acc_.data(), dbias_acc_.data());
  } else if (split) {
    segment_norm::for_ranges(features_, batch, [&](std::size_t first, std::size_t last) {
      for (std::size_t n = 0; n < batch; ++n)
        segment_norm::add_element_grads(input_->data() + n * features_, dy.data() + n * features_, first,
                                        last, stats_[n], dweight_acc_.data(), dbias_acc_.data());
    });
  }
  for (std::size_t i = 0; i < dweight_acc_.size(); ++i) {
    weight_grad.data()[i] += static_cast<float>(dweight_acc_[i]);
    bias_grad.data()[i] += static_cast<float>(dbias_acc_[i]);
  }
  return input_grad_;
}

void LayerNorm::begin_relu(const Shape& input_shape, MaxPool2d* pool) {
  const Shape shape = output_shape(input_shape);
  if (shape.size() != 4) throw ShapeError("layernorm: a ReLU fused after it needs [N, C, H, W] input");
  stats_.resize(shape[0]);
  planes_ = shape[1];
  plane_positions_ = shape[2] * shape[3];
  plane_scratch_.resize(static_cast<std::size_t>(core::threads()) * features_);
  begin_block_output(pool, shape, output_);
  pool_ = pool;
  input_ = nullptr;  // until end_relu
}

void LayerNorm::relu_sample(std::size_t n, int worker, const float* x) {
  const segment_norm::Affine aff = affine();
  if (!pool_) {
    // forward's block for this sample, then the ReLU on it while in cache.
    float* y = output_.data() + n * features_;
    stats_[n] = segment_norm::forward(x, y, channels_, positions_, options_.eps, aff);
    rectify(y, features_);
    return;
  }
  const segment_norm::Stats stats = segment_norm::statistics(x, features_, options_.eps);
  stats_[n] = stats;
  float* plane = plane_scratch_.data() + static_cast<std::size_t>(worker) * features_;
  // Run by run with forward's own operations; the pooling with then_relu is a ReLU → MaxPool2d pair.
  for (std::size_t c = 0; c < planes_; ++c) {
    const std::size_t at = c * plane_positions_;
    // Per element, γ's run of plane c is at c·H·W, as in forward's one run of C·H·W values.
    segment_norm::normalize_run(x + at, plane, c, plane_positions_, stats, aff);
    pool_->forward_plane(n * planes_ + c, plane);
  }
}

const Tensor& LayerNorm::end_relu(const Tensor& x) {
  if (output_shape(shape_of(x))[0] != stats_.size())
    throw ShapeError("layernorm: end_relu got " + to_string(shape_of(x)) + ", not the input begun with");
  input_ = &x;
  return pool_ ? pool_->output() : output_;
}

void LayerNorm::begin_backward_relu(const Tensor& dy) {
  check_block_grad(input_, pool_, output_, dy);
  block_grad_ = &dy;
  const std::size_t batch = shape_of(*input_)[0];
  if (options_.affine && options_.per_channel_affine) {
    channel_dy_xhat_.resize(batch * channels_);
    channel_dy_.resize(batch * channels_);
  }
  std::fill(dweight_acc_.begin(), dweight_acc_.end(), 0.0);
  std::fill(dbias_acc_.begin(), dbias_acc_.end(), 0.0);
}

void LayerNorm::backward_relu_sample(std::size_t n, int worker, float* dx) {
  float* plane = plane_scratch_.data() + static_cast<std::size_t>(worker) * features_;
  for (std::size_t c = 0; c < planes_; ++c)
    output_grad_plane(pool_, *block_grad_, output_, n * planes_ + c, plane_positions_,
                      plane + c * plane_positions_);
  const bool per_channel = options_.affine && options_.per_channel_affine;
  segment_norm::GradSinks sinks;
  if (per_channel) sinks = {channel_dy_xhat_.data() + n * channels_, channel_dy_.data() + n * channels_};
  // Per element on one thread the samples come in order, so each adds its part while it is in cache.
  if (options_.affine && !per_channel && core::threads() == 1)
    sinks = {nullptr, nullptr, dweight_acc_.data(), dbias_acc_.data()};
  segment_norm::backward(input_->data() + n * features_, plane, dx, channels_, positions_, stats_[n],
                         affine(), sinks);
}

void LayerNorm::end_backward_relu() {
  if (!options_.affine) return;
  const std::size_t batch = shape_of(*input_)[0];
  if (options_.per_channel_affine) {
    segment_norm::add_channel_grads(batch, channels_, channel_dy_xhat_.data(), channel_dy_.data(),
                                    dweight_acc_.data(), dbias_acc_.data());
  } else if (core::threads() > 1) {
    // The samples were split over the threads: now the planes are, each thread adding its planes' parts
    // over the samples in order, from dL/d(output) made again.
    core::parallel_for(planes_, [&](std::size_t c0, std::size_t c1, int worker) {
      float* plane = plane_scratch_.data() + static_cast<std::size_t>(worker) * features_;
      for (std::size_t n = 0; n < batch; ++n)
        for (std::size_t c = c0; c < c1; ++c) {
          const std::size_t at = c * plane_positions_;
          output_grad_plane(pool_, *block_grad_, output_, n * planes_ + c, plane_positions_, plane);
          segment_norm::add_element_grads(input_->data() + n * features_ + at, plane, 0, plane_positions_,
                                          stats_[n], dweight_acc_.data() + at, dbias_acc_.data() + at);
        }
    });
  }
  for (std::size_t i = 0; i < dweight_acc_.size(); ++i) {
    weight_grad.data()[i] += static_cast<float>(dweight_acc_[i]);
    bias_grad.data()[i] += static_cast<float>(dbias_acc_[i]);
  }
}

void LayerNorm::initialize(core::Rng&) {
  if (!options_.affine) return;
  std::fill(weight.begin(), weight.end(), 1.0f);
  std::fill(bias.begin(), bias.end(), 0.0f);
}

std::vector<Param> LayerNorm::params() {
  if (!options_.affine) return {};
  return {{"weight", &weight, &weight_grad, ParamKind::NormScale},
          {"bias", &bias, &bias_grad, ParamKind::NormShift}};
}

nlohmann::json LayerNorm::describe() const {
  return {
      {"type", type()},
      {"normalized_shape", normalized_shape_},
      {"eps", options_.eps},
      {"affine", options_.affine ? (options_.per_channel_affine ? "per_channel" : "per_element") : "none"}};
}

}  // namespace bnlab::nn
