// SampleNorm's shared pieces of the fused block: the check of backward's input, the gradient of the norm's
// output, the ReLU.
#include "nn/sample_norm.hpp"

#include "core/error.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"

namespace bnlab::nn {

void SampleNorm::check_block_grad(const Tensor* input, const MaxPool2d* pool, const Tensor& output,
                                  const Tensor& dy) const {
  const Tensor& block_output = pool ? pool->output() : output;
  if (input && shape_of(dy) == shape_of(block_output)) return;
  throw ShapeError(type() + ": backward of the fused " + (pool ? "pooling" : "ReLU") + " got dy " +
                   to_string(shape_of(dy)) +
                   (input ? " but its output is " + to_string(shape_of(block_output))
                          : std::string(" before a fused forward")));
}

void SampleNorm::output_grad_plane(const MaxPool2d* pool, const Tensor& dy, const Tensor& relu_output,
                                   std::size_t plane, std::size_t plane_size, float* out) {
  if (pool) {
    pool->backward_plane(plane, dy, out);
    return;
  }
  const float* g = dy.data() + plane * plane_size;
  const float* y = relu_output.data() + plane * plane_size;
  // As ReLU::backward (g loaded unconditionally so the loop vectorizes).
  for (std::size_t i = 0; i < plane_size; ++i) {
    const float gi = g[i];
    out[i] = y[i] > 0.0f ? gi : 0.0f;
  }
}

void SampleNorm::begin_block_output(MaxPool2d* pool, const Shape& shape, Tensor& output) {
  if (pool)
    pool->begin_forward(shape, /*then_relu=*/true);
  else
    ensure_shape(output, shape);
}

void SampleNorm::rectify(float* y, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) y[i] = rectified(y[i]);
}

}  // namespace bnlab::nn
