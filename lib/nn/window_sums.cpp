// window_sums: an AVX-512 loop with the lanes in four registers per sum, and the portable reference.
#include "nn/window_sums.hpp"

#include "nn/lane_fold_avx512.hpp"
#include "nn/lane_sum.hpp"

namespace bnlab::nn {

void window_sums_portable(std::size_t n, const float* g, const float* x, float mean, double& sum_g,
                          double& sum_gx) {
  run_sums2(
      n, [g](std::size_t q) { return double(g[q]); },
      [g, x, mean](std::size_t q) { return dy_xc(g[q], x[q], mean); }, NoGroupHook{}, sum_g, sum_gx);
}

#if defined(BNLAB_LANE_FOLD_AVX512)
void window_sums(std::size_t n, const float* g, const float* x, float mean, double& sum_g, double& sum_gx) {
  __m512d a[4], b[4];
  for (int k = 0; k < 4; ++k) a[k] = b[k] = _mm512_setzero_pd();
  const __m256 center = _mm256_set1_ps(mean);
  for (std::size_t i = 0; i < n; i += 32) {
    // Eight terms at a time, term q to lane q mod 32 (accumulator k, its lane q mod 8). Past n the loads
    // give +0: adding +0 changes no lane (they start at +0), and dy_xc of a +0 is +0. (Loaded as halves of
    // 256 bits: the 512-bit conversions and extractions start from an undefined vector, which GCC 12
    // warns may be used uninitialized.)
    for (int k = 0; k < 4; ++k) {
      const std::size_t first = i + 8 * static_cast<std::size_t>(k);
      const std::size_t left = first < n ? n - first : 0;
      const __mmask8 valid = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
      const __m256 gv = _mm256_maskz_loadu_ps(valid, g + first);
      const __m256 xc = _mm256_sub_ps(_mm256_maskz_loadu_ps(valid, x + first), center);  // x − μ in float
      const __mmask8 passed = _mm256_cmp_ps_mask(gv, _mm256_setzero_ps(), _CMP_NEQ_UQ);  // g != 0, NaN too
      const __m512d gd = _mm512_maskz_cvtps_pd(__mmask8(0xFF), gv);
      a[k] = _mm512_add_pd(a[k], gd);
      // Where g is ±0 the lane is left as it is: the same as adding dy_xc's +0.
      b[k] = _mm512_mask_add_pd(b[k], passed, b[k],
                                _mm512_mul_pd(gd, _mm512_maskz_cvtps_pd(__mmask8(0xFF), xc)));
    }
  }
  sum_g = fold_lane_registers(a);
  sum_gx = fold_lane_registers(b);
}
#else
void window_sums(std::size_t n, const float* g, const float* x, float mean, double& sum_g, double& sum_gx) {
  window_sums_portable(n, g, x, mean, sum_g, sum_gx);
}
#endif

}  // namespace bnlab::nn
