// Flatten: shape bookkeeping around one contiguous copy in each direction.
#include "nn/flatten.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace bnlab::nn {

Shape Flatten::output_shape(const Shape& in) const {
  if (in.size() < 2)
    throw ShapeError("flatten expects input [N, ...] with at least 2 dimensions, got " + to_string(in));
  return {in[0], element_count(Shape(in.begin() + 1, in.end()))};
}

const Tensor& Flatten::forward(const Tensor& x, Mode) {
  input_shape_ = shape_of(x);
  ensure_shape(output_, output_shape(input_shape_));
  std::copy(x.data(), x.data() + x.size(), output_.data());
  return output_;
}

const Tensor& Flatten::backward(const Tensor& dy) {
  if (!input_grad_needed_) return input_grad_;
  ensure_shape(input_grad_, input_shape_);
  std::copy(dy.data(), dy.data() + dy.size(), input_grad_.data());
  return input_grad_;
}

}  // namespace bnlab::nn
