// A normalization by each sample's own statistics (GroupNorm, LayerNorm): a Conv2d → it → ReLU → MaxPool2d
// block can then run sample by sample while the convolution's output is in cache (Sequential fuses them).
#pragma once

#include "nn/layer.hpp"

namespace bnlab::nn {

class MaxPool2d;

class SampleNorm : public Layer {
 public:
  // Forward: begin_relu_pool with the input's shape; relu_pool_sample(n, worker, x) for every sample n while
  // its [C, H·W] values x are in cache (from any worker of the thread pool); end_relu_pool(x) with the whole
  // input (the layer before keeps it, for backward) returns pool's output. Neither this layer's output nor
  // the ReLU's is ever written.
  // Backward, with dL/d(pool output) dy: begin_backward_relu_pool(dy); backward_relu_pool_sample(n, worker,
  // dx) for every sample n writes its [C, H·W] dL/dx into dx (from any worker; Conv2d::backward_by_sample);
  // end_backward_relu_pool() adds the γ/β gradients.
  // The same numbers, bit for bit, as the layers one after the other (the ReLU → MaxPool2d pair fused as
  // Sequential fuses it).
  virtual void begin_relu_pool(const Shape& input_shape, MaxPool2d& pool) = 0;
  virtual void relu_pool_sample(std::size_t n, int worker, const float* x) = 0;
  virtual const Tensor& end_relu_pool(const Tensor& x) = 0;
  virtual void begin_backward_relu_pool(const Tensor& dy) = 0;
  virtual void backward_relu_pool_sample(std::size_t n, int worker, float* dx) = 0;
  virtual void end_backward_relu_pool() = 0;

 protected:
  // For begin_backward_relu_pool: a ShapeError naming this layer unless the last forward ran fused (input
  // and pool set) and dy has the shape of the pooling's output.
  void check_pooled_grad(const Tensor* input, const MaxPool2d* pool, const Tensor& dy) const;
};

}  // namespace bnlab::nn
