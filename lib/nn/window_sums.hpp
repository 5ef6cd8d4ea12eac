// BatchNorm's two backward sums over a max-pooled plane's windows instead of its unpooled positions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bnlab::nn {

// g·(x − μ) in double, +0 where g is ±0 whatever x: where the ReLU or the pooling passed nothing x adds
// nothing to the sum, even where it is not finite (0·∞ would be NaN), so a sum over a pooled plane's
// windows, which reads x only at each window's maximum, is the sum over all its positions. As a bit mask,
// so loops over it stay vectorized (with a select GCC 12 branched and kept the lanes in memory).
inline double dy_xc(float g, float x, float mean) {
  const double product = double(g) * (x - mean);
  std::uint64_t bits;
  std::memcpy(&bits, &product, sizeof bits);
  bits &= g != 0.0f ? ~std::uint64_t{0} : std::uint64_t{0};
  double out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// sum_g = Σ g[q] and sum_gx = Σ dy_xc(g[q], x[q], mean) over q < n (in double), in the order of
// run_sums2 (lane_sum.hpp): term q in lane q mod 32, the lanes folded pairwise. g is what each window
// routes to its maximum and x the input there (MaxPool2d::window_gradients and window_inputs). With
// AVX-512 (the per-run sums of 4×4 to 16×16 pooled planes are short, and the portable loop spent more on
// its setup, tail and fold than on the terms), else window_sums_portable.
void window_sums(std::size_t n, const float* g, const float* x, float mean, double& sum_g, double& sum_gx);
void window_sums_portable(std::size_t n, const float* g, const float* x, float mean, double& sum_g,
                          double& sum_gx);

}  // namespace bnlab::nn
