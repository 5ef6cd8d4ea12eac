// fold_all_lanes (lane_sum.hpp) for 32 double lanes held in four AVX-512 registers.
#pragma once

#if defined(__AVX512F__) && defined(__AVX512VL__)
#include <immintrin.h>

#define BNLAB_LANE_FOLD_AVX512 1

namespace bnlab::nn {

// fold_all_lanes of the 32 lanes held as four registers (lanes 8·k to 8·k + 7 in lanes[k]): the same
// additions, lane by lane, each lane's upper partner moved under it by a permute. (Stored and folded by
// fold_all_lanes, the 8×8 maps' sums were 45% slower; the extracting intrinsics start from an undefined
// vector, which GCC 12 warns may be used uninitialized.)
inline double fold_lane_registers(const __m512d lanes[4]) {
  __m512d v = _mm512_add_pd(_mm512_add_pd(lanes[0], lanes[2]), _mm512_add_pd(lanes[1], lanes[3]));
  v = _mm512_add_pd(v,
                    _mm512_maskz_permutexvar_pd(__mmask8(0xFF), _mm512_set_epi64(7, 6, 5, 4, 7, 6, 5, 4), v));
  v = _mm512_add_pd(v,
                    _mm512_maskz_permutexvar_pd(__mmask8(0xFF), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 3, 2), v));
  v = _mm512_add_pd(v,
                    _mm512_maskz_permutexvar_pd(__mmask8(0xFF), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 1), v));
  return _mm512_cvtsd_f64(v);
}

}  // namespace bnlab::nn
#endif
