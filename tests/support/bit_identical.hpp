// Exact tensor comparison for tests that promise bit-identical results (fused paths, checkpoints, threads).
#pragma once

#include <cstring>

#include "core/tensor.hpp"

namespace bnlab::test {

// Same shape and the same bytes; a plain bool, since Catch cannot decompose xtensor's comparisons.
inline bool bit_identical(const Tensor& a, const Tensor& b) {
  return shape_of(a) == shape_of(b) && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace bnlab::test
