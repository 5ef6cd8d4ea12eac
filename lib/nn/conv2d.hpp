// 2-D convolution (cross-correlation as in PyTorch), weight [out, in, kh, kw], optional bias [out].
#pragma once

#include <functional>

#include "nn/im2col.hpp"
#include "nn/init.hpp"
#include "nn/layer.hpp"
#include "nn/window2d.hpp"

namespace bnlab::nn {

class Conv2d : public Layer {
 public:
  Conv2d(std::size_t in_channels, std::size_t out_channels, Extent2 kernel, Extent2 stride = 1,
         Extent2 padding = 0, bool use_bias = true);

  std::string type() const override { return "conv2d"; }
  Shape output_shape(const Shape& in) const override;
  // Per sample: im2col into a preallocated column buffer, then one sgemm W·col. Samples are split over
  // core::parallel_for's workers, each with its own column buffer, so a tile stays in that core's cache.
  const Tensor& forward(const Tensor& x, Mode mode) override;
  // forward, handing each sample's output ([out, OH·OW] values) to sample_done(n, worker, y) right after it
  // is computed, while it is still in cache: a BatchNorm after this layer takes its statistics there.
  using SampleDone = std::function<void(std::size_t n, int worker, const float* y)>;
  const Tensor& forward_observed(const Tensor& x, Mode mode, const SampleDone& sample_done);
  // forward without keeping the output: each sample's output is made in a buffer of the worker's and handed
  // to sample_done, which takes what it needs from it (a max pooling after this layer, from Sequential).
  // The output tensor is never written, so neither a pass over it nor its memory is paid; backward works
  // as after forward (it reads only the input).
  void forward_each(const Tensor& x, Mode mode, const SampleDone& sample_done);
  // Conv2d → ReLU in one (Sequential fuses such pairs): each sample's output is rectified in place right
  // after its GEMM, while in cache, so the output holds max(y, 0) and the ReLU's pass and tensor are never
  // paid. backward_relu takes dL/d(ReLU output) and masks it by that output sample by sample, where the
  // convolution's backward reads it (the whole masked gradient is never written). The same numbers, bit for
  // bit, as the two layers one after the other.
  const Tensor& forward_relu(const Tensor& x, Mode mode);
  const Tensor& backward_relu(const Tensor& dy);
  // Per sample: dW += dy·colᵀ, db += Σ dy, dx = col2im(Wᵀ·dy); the columns are rebuilt from the input
  // rather than kept for the whole batch, which would cost N times the buffer. Worker 0 adds straight into
  // the gradients (so one thread gives exactly the serial sums); other workers sum their samples into
  // their own buffers, added afterwards.
  const Tensor& backward(const Tensor& dy) override;
  // backward with dL/dy made sample by sample: dy_of(n, worker, dy) writes sample n's [out, OH·OW]
  // gradient into dy (a buffer of the worker's) just before it is used, so the layer after this one (a
  // BatchNorm, from Sequential) never writes its whole dL/dx to memory for this layer to read back.
  using SampleGrad = std::function<void(std::size_t n, int worker, float* dy)>;
  const Tensor& backward_by_sample(const SampleGrad& dy_of);
  // PyTorch's default: U(±1/√fan_in) for weight and bias, fan_in = in·kh·kw; another InitSpec draws the
  // weight by its formula and zeroes the bias.
  void initialize(core::Rng& rng) override;
  void set_init(const InitSpec& spec) { init_ = spec; }
  const InitSpec& init() const { return init_; }
  std::vector<Param> params() override;
  nlohmann::json describe() const override;

  const Window2d& window() const { return window_; }

  Tensor weight, bias, weight_grad, bias_grad;

 private:
  ImageGeometry geometry_for(const Shape& in) const;
  std::size_t sample_output_size() const;  // values of one sample's output, for the last forward's input
  // forward's work; keep_output false makes each sample in the worker's sample_output instead of output_.
  void forward_samples(const Tensor& x, bool keep_output, const SampleDone& sample_done);
  // backward's work, with dL/dy of sample n at dy_of(n, worker).
  const Tensor& backward_samples(const std::function<const float*(std::size_t, int)>& dy_of);

  std::size_t in_channels_, out_channels_;
  Window2d window_;
  bool has_bias_;
  // 1×1 kernel, stride 1, no padding: the image already is its column matrix.
  bool pointwise_;
  InitSpec init_;
  const Tensor* input_ = nullptr;
  // Per-worker scratch of parallel_for: column buffers, and partial weight/bias gradients for workers > 0.
  struct Scratch {
    Tensor col, col_grad, weight_grad, bias_grad, sample_grad, sample_output;
  };
  Scratch& scratch(std::size_t worker);
  Tensor output_, input_grad_;
  std::vector<Scratch> scratch_;
};

}  // namespace bnlab::nn
