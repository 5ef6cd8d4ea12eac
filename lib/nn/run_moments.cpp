// run_moments: an AVX-512 loop with the lanes in four registers per sum, and the portable reference.
#include "nn/run_moments.hpp"

#include <algorithm>

#include "core/prefetch.hpp"
#include "nn/lane_fold_avx512.hpp"
#include "nn/lane_sum.hpp"

namespace bnlab::nn {

namespace {
// The moments from the shifted sums.
void finish(double x0, double s1, double s2, std::size_t n, double& mean, double& m2) {
  const double count = static_cast<double>(n);
  mean = x0 + s1 / count;
  m2 = std::max(0.0, s2 - s1 * s1 / count);
}
}  // namespace

void run_moments_portable(const float* run, std::size_t n, double& mean, double& m2) {
  const double x0 = run[0];
  double s1, s2;
  run_sums2(
      n, [run, x0](std::size_t p) { return double(run[p]) - x0; },
      [run, x0](std::size_t p) {
        const double d = double(run[p]) - x0;
        return d * d;
      },
      [run](std::size_t p) { core::prefetch_stream(run + p); }, s1, s2);
  finish(x0, s1, s2, n, mean, m2);
}

#if defined(BNLAB_LANE_FOLD_AVX512)
void run_moments(const float* run, std::size_t n, double& mean, double& m2) {
  const double x0 = run[0];
  const __m512d shift = _mm512_set1_pd(x0);
  __m512d a[4], b[4];
  for (int k = 0; k < 4; ++k) a[k] = b[k] = _mm512_setzero_pd();
  // Eight values at a time, value i to lane i mod 32 (accumulator k, its lane i mod 8). (Converted from
  // halves of 256 bits with an all-ones mask: the unmasked 512-bit conversion starts from an undefined
  // vector, which GCC 12 warns may be used uninitialized.)
  std::size_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes) {
    core::prefetch_stream(run + i);
    for (int k = 0; k < 4; ++k) {
      const __m512d d = _mm512_sub_pd(
          _mm512_maskz_cvtps_pd(__mmask8(0xFF), _mm256_loadu_ps(run + i + 8 * static_cast<std::size_t>(k))),
          shift);
      a[k] = _mm512_add_pd(a[k], d);
      b[k] = _mm512_fmadd_pd(d, d, b[k]);
    }
  }
  if (i < n) {
    // The last values, to the first lanes; the others are left as they are.
    for (int k = 0; k < 4; ++k) {
      const std::size_t first = i + 8 * static_cast<std::size_t>(k);
      const std::size_t left = first < n ? n - first : 0;
      const __mmask8 valid = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
      const __m512d d = _mm512_sub_pd(
          _mm512_maskz_cvtps_pd(__mmask8(0xFF), _mm256_maskz_loadu_ps(valid, run + first)), shift);
      a[k] = _mm512_mask_add_pd(a[k], valid, a[k], d);
      b[k] = _mm512_mask3_fmadd_pd(d, d, b[k], valid);
    }
  }
  finish(x0, fold_lane_registers(a), fold_lane_registers(b), n, mean, m2);
}
#else
void run_moments(const float* run, std::size_t n, double& mean, double& m2) {
  run_moments_portable(run, n, mean, m2);
}
#endif

}  // namespace bnlab::nn
