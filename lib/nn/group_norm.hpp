// Group normalization: each sample normalized per group of C/G channels × H·W, with per-channel γ/β.
#pragma once

#include <vector>

#include "nn/layer.hpp"
#include "nn/segment_norm.hpp"

namespace bnlab::nn {

class MaxPool2d;

struct GroupNormOptions {
  double eps = 1e-5;
  bool affine = true;  // learnable per-channel γ ("weight", init 1) and β ("bias", init 0)
};

// Accepts [N, C] (dense) and [N, C, *] input. Statistics are each (sample, group)'s mean and biased
// variance in both modes, so batch size does not matter. forward caches a pointer to x and the
// per-(sample, group) mean and 1/σ; backward ADDS into the γ/β gradients.
class GroupNorm : public Layer {
 public:
  // groups must divide channels (ShapeError naming both otherwise).
  GroupNorm(std::size_t groups, std::size_t channels, const GroupNormOptions& options = {});

  std::string type() const override { return "groupnorm"; }
  Shape output_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  // Conv2d → GroupNorm → ReLU → MaxPool2d sample by sample (Sequential fuses such blocks): each sample's
  // statistics need only that sample, so the convolution's output is normalized, rectified and pooled
  // while it is in cache, and neither this layer's output nor the ReLU's is ever written. begin_relu_pool
  // with the input's shape; relu_pool_sample(n, x) for every sample n (x its [C, H·W] values, from any
  // worker); end_relu_pool(x) with the whole input (kept by the layer before, for backward) returns pool's
  // output. Backward, after dL/d(pool output) is known: backward_relu_pool_sample(n, worker, dy, dx) writes
  // sample n's dL/dx ([C, H·W] values) into dx from any worker (Conv2d::backward_by_sample), and
  // end_backward_relu_pool adds the γ/β gradients. The same numbers, bit for bit, as the four layers one
  // after the other (the ReLU → MaxPool2d pair fused as Sequential does).
  void begin_relu_pool(const Shape& input_shape, MaxPool2d& pool);
  void relu_pool_sample(std::size_t n, const float* x);
  const Tensor& end_relu_pool(const Tensor& x);
  void backward_relu_pool_sample(std::size_t n, int worker, const Tensor& dy, float* dx);
  void end_backward_relu_pool();

  // γ = 1, β = 0.
  void initialize(core::Rng& rng) override;
  std::vector<Param> params() override;
  nlohmann::json describe() const override;

  Tensor weight, bias, weight_grad, bias_grad;  // [C]; empty without affine

 private:
  segment_norm::Affine group_affine(std::size_t group) const;
  // Checks the shape and sizes the per-sample buffers for a forward of input shape in.
  Shape begin_forward(const Shape& in);
  // Sizes the per-(sample, channel) γ/β gradient parts for a batch.
  void begin_backward(std::size_t batch);
  // Adds the γ/β gradient parts of the whole batch, in sample order.
  void add_parameter_grads(std::size_t batch);

  std::size_t groups_, channels_;
  GroupNormOptions options_;
  const Tensor* input_ = nullptr;
  std::size_t positions_ = 0;                         // H·W of the last forward (1 for dense input)
  std::vector<segment_norm::Stats> stats_;            // [N·G]
  std::vector<double> dweight_acc_, dbias_acc_;       // [C], γ/β gradient sums over the batch, in double
  std::vector<double> channel_dy_xhat_, channel_dy_;  // [N·C], each sample's part of them
  MaxPool2d* pool_ = nullptr;                         // of the last begin_relu_pool
  std::vector<float> plane_scratch_;                  // [C·H·W] per thread: unpooled dL/d(output)
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
