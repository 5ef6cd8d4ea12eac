// SampleNorm's shared check of the fused backward's input.
#include "nn/sample_norm.hpp"

#include "core/error.hpp"
#include "nn/max_pool2d.hpp"

namespace bnlab::nn {

void SampleNorm::check_pooled_grad(const Tensor* input, const MaxPool2d* pool, const Tensor& dy) const {
  if (input && pool && shape_of(dy) == shape_of(pool->output())) return;
  throw ShapeError(type() + ": backward of the fused pooling got dy " + to_string(shape_of(dy)) +
                   (input && pool ? " but the pooling's output is " + to_string(shape_of(pool->output()))
                                  : std::string(" before a fused forward")));
}

}  // namespace bnlab::nn
