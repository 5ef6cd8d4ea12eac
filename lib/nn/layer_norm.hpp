// Layer normalization: each sample normalized over all its features (C·H·W, or F for dense input).
#pragma once

#include <vector>

#include "nn/sample_norm.hpp"
#include "nn/segment_norm.hpp"

namespace bnlab::nn {

struct LayerNormOptions {
  double eps = 1e-5;
  bool affine = true;  // learnable γ ("weight", init 1) and β ("bias", init 0)
  // false: γ/β per element of the normalized shape (PyTorch's elementwise_affine);
  // true: one γ/β per channel (the first dimension of the normalized shape), as GroupNorm with one group.
  bool per_channel_affine = false;
};

// Statistics are the sample's mean and biased variance in both modes (no running stats, no batch
// dependence, so a batch of one is fine). forward caches a pointer to x and each sample's mean and 1/σ;
// backward ADDS into the γ/β gradients.
class LayerNorm final : public SampleNorm {
 public:
  // normalized_shape is the per-sample shape, e.g. {C, H, W} or {F}.
  explicit LayerNorm(Shape normalized_shape, const LayerNormOptions& options = {});

  std::string type() const override { return "layernorm"; }
  Shape output_shape(const Shape& in) const override;
  const Tensor& forward(const Tensor& x, Mode mode) override;
  const Tensor& backward(const Tensor& dy) override;

  // Conv2d → LayerNorm → ReLU (→ MaxPool2d) sample by sample (SampleNorm; the normalized shape
  // [C, H, W]): the sample normalized and rectified, or with a pooling each channel's run of y made in a
  // plane of the worker's and pooled from there.
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

  Tensor weight, bias, weight_grad, bias_grad;  // normalized_shape, or [C] per channel; empty without affine

 private:
  segment_norm::Affine affine() const;

  Shape normalized_shape_;
  LayerNormOptions options_;
  std::size_t features_, channels_, positions_;  // per sample: features = channels·positions
  const Tensor* input_ = nullptr;
  std::vector<segment_norm::Stats> stats_;            // per sample
  std::vector<double> dweight_acc_, dbias_acc_;       // γ/β gradient sums over the batch, in double
  std::vector<double> channel_dy_xhat_, channel_dy_;  // [N·C] with per-channel γ: each sample's part
  // The fused block's: its pooling (null: none), dL/d(block output), planes (C) and positions per plane
  // (H·W), and a [C·H·W] scratch per thread for y's runs and dL/d(this layer's output).
  MaxPool2d* pool_ = nullptr;
  const Tensor* block_grad_ = nullptr;
  std::size_t planes_ = 0, plane_positions_ = 0;
  std::vector<float> plane_scratch_;
  Tensor output_, input_grad_;
};

}  // namespace bnlab::nn
