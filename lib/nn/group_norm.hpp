// Group normalization: each sample normalized per group of C/G channels × H·W, with per-channel γ/β.
#pragma once

#include <vector>

#include "nn/sample_norm.hpp"
#include "nn/segment_norm.hpp"

namespace bnlab::nn {

struct GroupNormOptions {
  double eps = 1e-5;
  bool affine = true;  // learnable per-channel γ ("weight", init 1) and β ("bias", init 0)
};

// Accepts [N, C] (dense) and [N, C, *] input. Statistics are each (sample, group)'s mean and biased
// variance in both modes, so batch size does not matter. forward caches a pointer to x and the
// per-(sample, group) mean and 1/σ; backward ADDS into the γ/β gradients.
class GroupNorm final : public SampleNorm {
 public:
  // groups must divide channels (ShapeError naming both otherwise).
  GroupNorm(std::size_t groups, std::size_t channels, const GroupNormOptions& options = {});

  std::string type() const override { return "groupnorm"; }
  Shape output_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  // Conv2d → GroupNorm → ReLU (→ MaxPool2d) sample by sample (SampleNorm): each sample is normalized by
  // its groups' statistics and rectified, or with a pooling rectified and pooled value by value as the
  // pooling reads it.
  void begin_relu(const Shape& input_shape, MaxPool2d* pool) override;
  void relu_sample(std::size_t n, int worker, const float* x) override;
  const Tensor& end_relu(const Tensor& x) override;
  void begin_backward_relu(const Tensor& dy) override;
  void backward_relu_sample(std::size_t n, int worker, float* dx) override;
  void end_backward_relu() override;

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
  MaxPool2d* pool_ = nullptr;                         // of the last begin_relu (null: no pooling)
  const Tensor* block_grad_ = nullptr;                // of the last begin_backward_relu
  std::vector<float> plane_scratch_;                  // [C·H·W] per thread: dL/d(output) of the block
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
