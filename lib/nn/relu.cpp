// ReLU forward and backward over contiguous buffers; backward reads the output (y > 0 ⇔ x > 0).
#include "nn/relu.hpp"

#include "core/parallel.hpp"

namespace bnlab::nn {

namespace {

// Element-wise, so large tensors are split over the pool (results do not depend on the split).
void for_ranges(std::size_t n, const std::function<void(std::size_t, std::size_t, int)>& body) {
  constexpr std::size_t kParallelElements = 1 << 15;
  if (n >= kParallelElements) {
    core::parallel_for(n, body);
  } else {
    body(0, n, 0);
  }
}

}  // namespace

const Tensor& ReLU::forward(const Tensor& x, Mode) {
  ensure_shape(output_, shape_of(x));
  const float* in = x.data();
  float* out = output_.data();
  for_ranges(x.size(), [=](std::size_t first, std::size_t last, int) {
    // NaN passes through, as in PyTorch: a diverging activation stays visible instead of turning into 0
    // (and max pooling before the ReLU then gives the same result as after it).
    for (std::size_t i = first; i < last; ++i) out[i] = rectified(in[i]);
  });
  return output_;
}

const Tensor& ReLU::backward(const Tensor& dy) {
  ensure_shape(input_grad_, shape_of(dy));
  const float* y = output_.data();
  const float* g = dy.data();
  float* dx = input_grad_.data();
  for_ranges(dy.size(), [=](std::size_t first, std::size_t last, int) {
    // g[i] is loaded unconditionally so the loop vectorizes (a conditional load would not).
    for (std::size_t i = first; i < last; ++i) {
      const float gi = g[i];
      dx[i] = y[i] > 0.0f ? gi : 0.0f;
    }
  });
  return input_grad_;
}

}  // namespace bnlab::nn
