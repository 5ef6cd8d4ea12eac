// A normalization by each sample's own statistics (GroupNorm, LayerNorm): a Conv2d → it → ReLU block, with
// or without a MaxPool2d after the ReLU, can then run sample by sample while the convolution's output is in
// cache (Sequential fuses them).
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class MaxPool2d;

class SampleNorm : public Layer {
 public:
  // Forward: begin_relu with the input's shape and the pooling after the ReLU (null for none);
  // relu_sample(n, worker, x) for every sample n while its [C, H·W] values x are in cache (from any worker
  // of the thread pool); end_relu(x) with the whole input (the layer before keeps it, for backward) returns
  // the block's output: the pooling's, or without one this layer's output tensor holding max(y, 0). y is
  // never written, nor with a pooling the ReLU's output.
  // Backward, with dy = dL/d(block output): begin_backward_relu(dy); backward_relu_sample(n, worker, dx)
  // for every sample n writes its [C, H·W] dL/dx into dx (from any worker; Conv2d::backward_by_sample);
  // end_backward_relu() adds the γ/β gradients.
  // The same numbers, bit for bit, as the layers one after the other (the ReLU → MaxPool2d pair fused as
  // Sequential fuses it).
  virtual void begin_relu(const Shape& input_shape, MaxPool2d* pool) = 0;
  virtual void relu_sample(std::size_t n, int worker, const float* x) = 0;
  virtual const Tensor& end_relu(const Tensor& x) = 0;
  virtual void begin_backward_relu(const Tensor& dy) = 0;
  virtual void backward_relu_sample(std::size_t n, int worker, float* dx) = 0;
  virtual void end_backward_relu() = 0;

 protected:
  // For begin_backward_relu: a ShapeError naming this layer unless the last forward ran fused (input set)
  // and dy has the shape of the block's output (pool's, or without a pool this layer's output).
  void check_block_grad(const Tensor* input, const MaxPool2d* pool, const Tensor& output,
                        const Tensor& dy) const;
  // dL/d(this layer's output) on plane `plane` ([N·C] planes of plane_size values) from the block's dy:
  // unpooled through the ReLU (the windows it blocked are marked), or without a pool dy where the ReLU's
  // output is positive and +0 elsewhere; bit for bit what the ReLU's (and the pooling's) backward make.
  static void output_grad_plane(const MaxPool2d* pool, const Tensor& dy, const Tensor& relu_output,
                                std::size_t plane, std::size_t plane_size, float* out);
  // For begin_relu: the block's output of input shape `shape` made ready, the pooling's (through the ReLU)
  // or without one this layer's output tensor.
  static void begin_block_output(MaxPool2d* pool, const Shape& shape, Tensor& output);
  // The ReLU on count values in place, as ReLU::forward.
  static void rectify(float* y, std::size_t count);
};

}  // namespace bnlab::nn
