// Batch normalization (BatchNorm1d over [N, C] or [N, C, L], BatchNorm2d over [N, C, H, W]) with PyTorch's
// semantics.
#pragma once

#include <optional>
#include <vector>

#include "nn/layer.hpp"
#include "nn/max_pool2d.hpp"

namespace bnlab::nn {

namespace detail {
struct Block;
}

struct BatchNormOptions {
  double eps = 1e-5;
  // Weight of the NEW batch statistic in the running average (PyTorch's convention, not "keep-old");
  // nullopt = cumulative moving average, factor 1/num_batches_tracked.
  std::optional<double> momentum = 0.1;
  bool affine = true;               // learnable γ ("weight", init 1) and β ("bias", init 0) per channel
  bool track_running_stats = true;  // buffers running_mean (0), running_var (1), num_batches_tracked (0)
};

// The kernel both variants share: the input is viewed as [N, C, P], P positions per channel and sample
// (H·W for 2d, 1 for dense input), contiguous.
//  - Train, or Eval without running stats: normalizes each channel by its batch mean and BIASED variance
//    over N·P values, which requires N·P > 1 (ShapeError otherwise; there is no silent mode switch).
//    In Train with tracking, running_mean and the UNBIASED running_var are updated and the counter grows.
//  - Eval with running stats: normalizes with running_mean and running_var.
// forward caches a pointer to x and the per-channel mean and 1/σ it used; backward ADDS into the γ/β
// gradients and returns dx.
class BatchNorm : public Layer {
 public:
  const Tensor& forward(const Tensor& x, Mode mode) override;
  // Writes dx over the forward output (the same buffer): y is not needed once the next layer's backward
  // has run, and this saves a tensor of the input's size.
  const Tensor& backward(const Tensor& dy) override;
  // BatchNorm followed by ReLU in the same passes over memory, bit for bit what the two layers compute one
  // after the other (Sequential fuses such pairs). The output buffer holds max(y, 0) instead of y, which
  // saves the ReLU's own pass and tensor; backward_relu takes dL/d(ReLU output) and returns dL/dx.
  const Tensor& forward_relu(const Tensor& x, Mode mode);
  const Tensor& backward_relu(const Tensor& dy);
  // BatchNorm, ReLU and max pooling in one (Sequential fuses such triples of a BatchNorm2d): each plane of
  // max(y, 0) is taken value by value by pool.forward_plane as it reads x, so the full-size y never goes to
  // memory; returns pool's output. backward_relu_pool takes dL/d(pool output),
  // unpools it plane by plane the same way (pool.backward is not called) and returns dL/dx. The same
  // numbers, bit for bit, as the three layers one after the other.
  const Tensor& forward_relu_pool(const Tensor& x, Mode mode, MaxPool2d& pool);
  const Tensor& backward_relu_pool(const Tensor& dy, const MaxPool2d& pool);

  // Whether forward in this mode normalizes with batch statistics (rather than running ones).
  bool uses_batch_statistics(Mode mode) const;
  // forward's statistics of images taken sample by sample by the layer before, while its output is still
  // in cache (Conv2d::forward_observed; Sequential pairs them): begin_sample_statistics with the shape of
  // the coming input, sample_statistics(n, y) for every sample n (y its [C, H·W] values; from any worker),
  // end_sample_statistics; the next forward of that shape then skips its own statistics pass. Bit for bit
  // the statistics forward takes itself.
  void begin_sample_statistics(const Shape& input_shape);
  void sample_statistics(std::size_t n, const float* y);
  void end_sample_statistics();
  // forward_relu_pool with running statistics (eval mode; uses_batch_statistics false) on an input made
  // sample by sample by the layer before: begin_eval_relu_pool with the input's shape, then
  // eval_relu_pool_sample(n, y) for every sample n while y ([C, H·W] values) is still in cache (from any
  // worker), then end_eval_relu_pool. Returns pool's output; the same numbers and state as
  // forward_relu_pool(x). The whole input is not needed for that, so it need not be kept (an evaluation
  // pass, which has no backward, then never writes it): a backward after it needs it given back first by
  // restore_input (Sequential makes it again).
  void begin_eval_relu_pool(const Shape& input_shape, MaxPool2d& pool);
  void eval_relu_pool_sample(std::size_t n, const float* y);
  const Tensor& end_eval_relu_pool();
  // The input of the last forward, which must stay alive for backward as forward's input would.
  void restore_input(const Tensor& x);
  bool has_input() const { return input_ != nullptr; }

  // What ran fused after the normalization in the last forward: forward, forward_relu, forward_relu_pool.
  enum class Then { Nothing, Relu, ReluMaxPool };
  // backward in two halves, for a Conv2d before this layer that takes dL/dx one sample at a time
  // (Conv2d::backward_by_sample; Sequential pairs them), so the whole dL/dx never goes to memory:
  // backward_sums takes dy as backward, backward_relu or backward_relu_pool would (then says which), adds
  // the γ/β gradients and sums what dx needs; then backward_sample writes sample n's dL/dx ([C, H·W]
  // values) into dx, from any worker of the thread pool. The same numbers as backward.
  void backward_sums(const Tensor& dy, Then then, const MaxPool2d* pool = nullptr);
  void backward_sample(std::size_t n, int worker, float* dx);
  // For a BatchNorm2d followed by a ReLU and a 2×2/stride-2 max pooling (Sequential sets it, fused or not):
  // backward's per-run sums are taken in 2×2 blocks (lane_sum.hpp's block_run_sums2), the order in which
  // forward_relu_pool's backward sums over the pooling windows alone (a quarter of the values, without
  // unpooling dy or reading x again: window_sums.hpp), so that the fused and the unfused layers still agree
  // bit for bit. Off, the sums run over each plane's values in memory order (faster without the pooling).
  void set_sums_by_pooling_windows(bool on) { sums_by_pooling_windows_ = on; }
  bool sums_by_pooling_windows() const { return sums_by_pooling_windows_; }
  // γ = 1, β = 0 and running statistics reset, as PyTorch's reset_parameters.
  void initialize(core::Rng& rng) override;
  std::vector<Param> params() override;
  std::vector<Buffer> buffers() override;
  nlohmann::json describe() const override;

  std::size_t channels() const { return channels_; }
  const BatchNormOptions& options() const { return options_; }

  Tensor weight, bias, weight_grad, bias_grad;  // [C]; empty when affine is off
  Tensor running_mean, running_var;             // [C]; empty when running stats are not tracked
  Tensor num_batches_tracked;                   // [1]; a float count, exact up to 2^24 batches

 protected:
  BatchNorm(std::size_t channels, const BatchNormOptions& options);

 private:
  void reset();
  // mean_, inv_std_ and forward's norm_scale_/norm_shift_ of channels [c0, c1) from the running statistics.
  void running_coefficients(std::size_t c0, std::size_t c1);
  template <Then kThen>
  const Tensor& forward_pass(const Tensor& x, Mode mode, MaxPool2d* pool);
  const Tensor& backward_pass(const Tensor& dy, Then then, const MaxPool2d* pool);
  template <Then kThen>
  auto grad_view(int worker);
  template <Then kThen>
  void backward_run_sums_of(const detail::Block& r);
  template <Then kThen>
  void backward_sums_of(const detail::Block& r);
  template <Then kThen>
  void backward_apply(const detail::Block& r);
  template <Then kThen>
  void backward_sample_of(std::size_t n, int worker, float* dx);
  // dx of channel c from dL/d(this layer's output) g and x, after backward_sums: scale·g + slope·(x − μ) +
  // offset.
  MaxPool2d::GradAffine grad_affine(std::size_t c) const;

  std::size_t channels_;
  BatchNormOptions options_;
  const Tensor* input_ = nullptr;
  bool used_batch_stats_ = false;
  bool sums_by_pooling_windows_ = false;
  std::vector<double> run_mean_, run_m2_;  // [N·C] moments of each sample's run of H·W values
  Shape sample_statistics_shape_;
  bool sample_statistics_ready_ = false;  // run moments taken by the layer before for the next forward
  const Tensor* dy_ = nullptr;            // what backward_sums was given, for backward_sample
  Then then_ = Then::Nothing;
  const MaxPool2d* pool_ = nullptr;
  MaxPool2d* eval_pool_ = nullptr;                     // between begin_eval_relu_pool and end_eval_relu_pool
  std::size_t batch_ = 0, positions_ = 0, width_ = 1;  // width_: of the rows of each run (W, or L)
  std::vector<float> mean_, inv_std_;                  // per channel, what the last forward normalized with
  std::vector<double> sum_a_, sum_b_;                  // per-channel accumulators reused by every pass
  std::vector<double> run_dy_sum_, run_dy_xc_sum_;  // [N·C] backward's Σ dy and Σ dy·(x − μ) of each run
  std::vector<float> norm_scale_, norm_shift_;      // forward's y = (x − mean)·norm_scale + norm_shift
  std::vector<float> scale_, slope_, offset_;  // backward's dx = scale·dy + slope·(x − mean) + offset
  std::vector<float> plane_scratch_;           // one [H·W] plane per thread, with the pooling fused
  std::vector<double> block_scratch_;          // per thread, block_run_sums2's terms and block sums of a run
  std::vector<float> window_scratch_;          // per thread, a sample's routed window gradients [C, windows]
  std::size_t window_scratch_stride() const;   // floats per thread in window_scratch_, for pool_
  Tensor output_;                              // forward's y, then backward's dx
};

// Normalizes each feature of [N, C] (or each channel of [N, C, L]) over the batch (and L).
class BatchNorm1d final : public BatchNorm {
 public:
  explicit BatchNorm1d(std::size_t channels, const BatchNormOptions& options = {})
      : BatchNorm(channels, options) {}
  std::string type() const override { return "batchnorm1d"; }
  Shape output_shape(const Shape& in) const override;
};

// Normalizes each channel of [N, C, H, W] over N·H·W values.
class BatchNorm2d final : public BatchNorm {
 public:
  explicit BatchNorm2d(std::size_t channels, const BatchNormOptions& options = {})
      : BatchNorm(channels, options) {}
  std::string type() const override { return "batchnorm2d"; }
  Shape output_shape(const Shape& in) const override;
};

}  // namespace bnlab::nn
