// Tensor and shape aliases shared by every part of bnlab, plus shape helpers.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

namespace bnlab {

// Activations, parameters and gradients are float32, row-major and contiguous (NCHW, or N×F for dense).
using Tensor = xt::xarray<float, xt::layout_type::row_major>;
using Shape = std::vector<std::size_t>;

inline Shape shape_of(const Tensor& t) {
  return Shape(t.shape().begin(), t.shape().end());
}

inline std::size_t element_count(const Shape& s) {
  std::size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Reallocates only when the shape changes, so steady-state training steps never allocate.
inline void ensure_shape(Tensor& t, const Shape& s) {
  if (t.dimension() == s.size() && std::equal(s.begin(), s.end(), t.shape().begin())) return;
  t.resize(s);
}

std::string to_string(const Shape& s);

}  // namespace bnlab
