// Max pooling per input plane, with a branch-light path for the common 2×2/stride 2 window.
#include "nn/max_pool2d.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/prefetch.hpp"
#include "nn/relu.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

// The 2×2 path's widest kernels: masked loads and stores, two-source permutes and byte stores.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define BNLAB_POOL_AVX512 1
#endif

namespace bnlab::nn {

namespace {

using Index = std::ptrdiff_t;

// The argmax mark of a window whose output the fused ReLU blocked; plane indices stay below it.
constexpr std::uint32_t kReluBlocked = std::uint32_t{1} << 31;

// PyTorch's update rule: strictly greater, or NaN (so a NaN propagates instead of being skipped).
inline bool replaces(float v, float best) {
  return v > best || std::isnan(v);
}

// What each input value is taken as before pooling: itself, or (x − center)·scale + shift.
// kStreams: whether the planes come from memory (BatchNorm's pass over the whole conv output) rather than
// from cache (a sample just made), so the kernels prefetch ahead as they read.
struct AsIs {
  static constexpr bool kStreams = false;
  float operator()(float x) const { return x; }
#if defined(__SSE2__)
  __m128 operator()(__m128 x) const {
    return x;
  }
#endif
#if defined(__AVX2__)
  __m256 operator()(__m256 x) const {
    return x;
  }
#endif
#if defined(BNLAB_POOL_AVX512)
  __m512 operator()(__m512 x) const {
    return x;
  }
#endif
};

// BatchNorm's normalization with its operations in their order, so the pooled values are bit for bit those
// of pooling its output. Its ReLU is the pooling's then_relu, after the max: max and max(·, 0) commute, and
// where the maximum is positive the first position holding it is the same either way (a ReLU on each
// value only turns values below it into +0), so outputs and routed gradients are those of ReLU → pool; a
// window whose maximum is not positive routes nothing whichever position its code names. Leaving the ReLU
// out of each value saves a compare and a mask per input vector.
struct ThroughAffine {
  static constexpr bool kStreams = true;
  float center, scale, shift;
  float operator()(float x) const { return (x - center) * scale + shift; }
#if defined(__SSE2__)
  __m128 operator()(__m128 x) const {
    return _mm_add_ps(_mm_mul_ps(_mm_sub_ps(x, _mm_set1_ps(center)), _mm_set1_ps(scale)), _mm_set1_ps(shift));
  }
#endif
#if defined(__AVX2__)
  __m256 operator()(__m256 x) const {
    return _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(x, _mm256_set1_ps(center)), _mm256_set1_ps(scale)),
                         _mm256_set1_ps(shift));
  }
#endif
#if defined(BNLAB_POOL_AVX512)
  __m512 operator()(__m512 x) const {
    return _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(x, _mm512_set1_ps(center)), _mm512_set1_ps(scale)),
                         _mm512_set1_ps(shift));
  }
#endif
};

template <class Transform = AsIs>
void pool_plane_generic(const float* in, Index H, Index W, const Window2d& win, Index OH, Index OW,
                        float* out, std::uint32_t* arg, Transform value = {}) {
  const Index kh = win.kernel.h, kw = win.kernel.w, sh = win.stride.h, sw = win.stride.w;
  const Index ph = win.padding.h, pw = win.padding.w;
  for (Index oh = 0; oh < OH; ++oh) {
    const Index h0 = std::max<Index>(oh * sh - ph, 0), h1 = std::min<Index>(oh * sh - ph + kh, H);
    for (Index ow = 0; ow < OW; ++ow) {
      const Index w0 = std::max<Index>(ow * sw - pw, 0), w1 = std::min<Index>(ow * sw - pw + kw, W);
      float best = -std::numeric_limits<float>::infinity();
      Index best_at = h0 * W + w0;
      for (Index h = h0; h < h1; ++h)
        for (Index w = w0; w < w1; ++w) {
          const float v = value(in[h * W + w]);
          if (replaces(v, best)) {
            best = v;
            best_at = h * W + w;
          }
        }
      out[oh * OW + ow] = best;
      arg[oh * OW + ow] = static_cast<std::uint32_t>(best_at);
    }
  }
}

// 2×2 windows with stride 2 and no padding. The four candidates are taken in the same order and by the
// same rule as the generic loop, so results are identical; but with selects instead of branches (random
// activations make such branches mispredict half the time), four outputs at a time with SSE2.
inline std::uint32_t select_bits(bool take, std::uint32_t a, std::uint32_t b) {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(take);
  return (a & mask) | (b & ~mask);
}

// The window codes of the 2×2 path: which of the four positions won (0 top left, 1 top right, 2 bottom
// left, 3 bottom right), kCodeReluBlocked added where then_relu's ReLU blocked the window. A byte instead
// of a 32-bit plane index: the fused backward passes read these once or twice per step.
constexpr std::uint8_t kCodeReluBlocked = 0x80;

template <bool kThenRelu, class Transform>
inline void pool_2x2_scalar(const float* row0, const float* row1, float* y, std::uint8_t* code, float* input,
                            Transform value) {
  const float raw[4] = {row0[0], row0[1], row1[0], row1[1]};
  const float candidates[4] = {value(raw[0]), value(raw[1]), value(raw[2]), value(raw[3])};
  float best = candidates[0];
  std::uint32_t best_at = 0;
  for (std::uint32_t i = 1; i < 4; ++i) {
    const float v = candidates[i];
    const bool take = (v > best) | (v != v);
    std::uint32_t v_bits, best_bits;
    std::memcpy(&v_bits, &v, sizeof v);
    std::memcpy(&best_bits, &best, sizeof best);
    best_bits = select_bits(take, v_bits, best_bits);
    std::memcpy(&best, &best_bits, sizeof best);
    best_at = select_bits(take, i, best_at);
  }
  if constexpr (kThenRelu) {
    best = rectified(best);
    if (!(best > 0.0f)) best_at |= kCodeReluBlocked;
  }
  if (input) *input = raw[best_at & 3];
  *y = best;
  *code = static_cast<std::uint8_t>(best_at);
}

// Runs group(start) over [0, count) `width` at a time, the last group ending at count (overlapping the one
// before it, which recomputes the same values); returns how far that covered: count, or 0 when count <
// width.
template <class Group>
Index in_groups_of(Index width, Index count, Group group) {
  if (count < width) return 0;
  for (Index start = 0;; start += width) {
    start = std::min(start, count - width);
    group(start);
    if (start + width == count) return count;
  }
}

#if defined(__SSE2__)
// Replaces best (its index, and the input it came from) by v where v > best or v is NaN.
inline void take_if_greater(__m128 v, __m128 v_input, __m128i v_at, __m128& best, __m128& best_input,
                            __m128i& best_at) {
  const __m128 take = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
  best = _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, best));
  best_input = _mm_or_ps(_mm_and_ps(take, v_input), _mm_andnot_ps(take, best_input));
  const __m128i take_i = _mm_castps_si128(take);
  best_at = _mm_or_si128(_mm_and_si128(take_i, v_at), _mm_andnot_si128(take_i, best_at));
}
#endif

#if defined(__SSE2__)
// The low byte of each 32-bit lane of codes, in order (values below 256).
inline std::uint32_t code_bytes(__m128i codes) {
  const __m128i words = _mm_packs_epi32(codes, codes);
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(words, words)));
}
#endif

#if defined(BNLAB_POOL_AVX512)
// Sixteen windows a vector. Window rows of at most eight windows go two to a vector (their outputs are
// adjacent in memory): lanes [0, half) come from the first source, [half, 2·half) from the second, where a
// source is one window row's two input rows, or the two halves of a longer row (half = 8). Masked loads
// read nothing past a row; masked stores write only the windows that exist.
struct Avx512Groups {
  Index half;
  __m512i evens, odds;  // the top-left and top-right (or bottom-left and right) candidates of each lane

  explicit Avx512Groups(Index OW) : half(OW <= 8 ? OW : 8) {
    alignas(64) std::int32_t even[16], odd[16];
    for (Index j = 0; j < 16; ++j) {
      even[j] = static_cast<std::int32_t>(j < half ? 2 * j : 16 + 2 * (j - half));
      odd[j] = even[j] + 1;
    }
    evens = _mm512_load_si512(even);
    odds = _mm512_load_si512(odd);
  }
};

inline __mmask16 first_lanes(Index count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1u);
}

// body(a, a_floats, b, b_floats, out, windows): the sources of each group of a window row pair or row,
// their valid input floats, and the index of its first output.
template <class Body>
void for_each_avx512_group(Index W, Index OH, Index OW, Body body) {
  if (OW <= 8) {
    for (Index oh = 0; oh < OH; oh += 2) {
      const bool second = oh + 1 < OH;
      body(2 * oh * W, 2 * OW, (2 * oh + 2) * W, second ? 2 * OW : 0, oh * OW, second ? 2 * OW : OW);
    }
    return;
  }
  for (Index oh = 0; oh < OH; ++oh)
    for (Index ow = 0; ow < OW; ow += 16) {
      const Index floats = 2 * std::min<Index>(16, OW - ow), at = 2 * oh * W + 2 * ow;
      body(at, std::min<Index>(16, floats), at + 16, floats - std::min<Index>(16, floats), oh * OW + ow,
           floats / 2);
    }
}

template <bool kThenRelu, bool kKeepInputs, class Transform>
void pool_plane_2x2_avx512(const float* in, Index W, Index OH, Index OW, float* out, std::uint8_t* codes,
                           float* inputs, Transform value) {
  const Avx512Groups groups(OW);
  // v is value(input); the candidates are picked out of the rows before the transform (it acts value by
  // value, so the results are the same) so that the input at the maximum can be kept beside it.
  auto take = [](__m512 input, __m512 v, int position, __m512& best, __m512& best_input, __m512i& best_at) {
    const __mmask16 replace =
        _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    best = _mm512_mask_mov_ps(best, replace, v);
    if constexpr (kKeepInputs) best_input = _mm512_mask_mov_ps(best_input, replace, input);
    best_at = _mm512_mask_mov_epi32(best_at, replace, _mm512_set1_epi32(position));
  };
  for_each_avx512_group(
      W, OH, OW, [&](Index a, Index a_floats, Index b, Index b_floats, Index first, Index windows) {
        if constexpr (Transform::kStreams) {
          // The group's rows: two (one window row), or four (a pair) from a on.
          core::prefetch_stream(in + a);
          core::prefetch_stream(in + a + (OW <= 8 ? 2 * W : W));
        }
        const __mmask16 a_mask = first_lanes(a_floats), b_mask = first_lanes(b_floats);
        const __m512 top_a = _mm512_maskz_loadu_ps(a_mask, in + a),
                     top_b = _mm512_maskz_loadu_ps(b_mask, in + b);
        const __m512 bottom_a = _mm512_maskz_loadu_ps(a_mask, in + a + W),
                     bottom_b = _mm512_maskz_loadu_ps(b_mask, in + b + W);
        const __m512 top_left = _mm512_permutex2var_ps(top_a, groups.evens, top_b),
                     top_right = _mm512_permutex2var_ps(top_a, groups.odds, top_b),
                     bottom_left = _mm512_permutex2var_ps(bottom_a, groups.evens, bottom_b),
                     bottom_right = _mm512_permutex2var_ps(bottom_a, groups.odds, bottom_b);
        __m512 best = value(top_left), best_input = top_left;
        __m512i best_at = _mm512_setzero_si512();
        take(top_right, value(top_right), 1, best, best_input, best_at);
        take(bottom_left, value(bottom_left), 2, best, best_input, best_at);
        take(bottom_right, value(bottom_right), 3, best, best_input, best_at);
        if constexpr (kThenRelu) {
          best = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(best, _mm512_setzero_ps(), _CMP_NLE_UQ), best);
          best_at = _mm512_mask_or_epi32(best_at, _mm512_cmp_ps_mask(best, _mm512_setzero_ps(), _CMP_NGT_UQ),
                                         best_at, _mm512_set1_epi32(kCodeReluBlocked));
        }
        const __mmask16 out_mask = first_lanes(windows);
        _mm512_mask_storeu_ps(out + first, out_mask, best);
        _mm512_mask_cvtepi32_storeu_epi8(codes + first, out_mask, best_at);
        if constexpr (kKeepInputs) _mm512_mask_storeu_ps(inputs + first, out_mask, best_input);
      });
}
#endif

// kThenRelu: the outputs go through the ReLU and the windows it blocks are marked in their codes.
// kKeepInputs: each window's input at its maximum (before value's transform) goes to inputs.
template <bool kThenRelu, bool kKeepInputs, class Transform>
void pool_plane_2x2(const float* in, Index W, Index OH, Index OW, float* out, std::uint8_t* codes,
                    float* inputs, Transform value) {
#if defined(BNLAB_POOL_AVX512)
  return pool_plane_2x2_avx512<kThenRelu, kKeepInputs>(in, W, OH, OW, out, codes, inputs, value);
#endif
  for (Index oh = 0; oh < OH; ++oh) {
    const float* row0 = in + 2 * oh * W;
    const float* row1 = row0 + W;
    if constexpr (Transform::kStreams)
      for (Index k = 0; k < 2 * W; k += static_cast<Index>(core::kStreamStep))
        core::prefetch_stream(row0 + k);
    float* y = out + oh * OW;
    std::uint8_t* code = codes + oh * OW;
    float* input = kKeepInputs ? inputs + oh * OW : nullptr;
    Index ow = 0;
#if defined(__SSE2__)
    // Groups of four; a last partial group is done as the four final outputs, recomputing a few of the
    // previous group (same inputs, same results) instead of falling back to scalar code.
    // The candidates are picked out of the rows before value's transform (it acts value by value, so the
    // results are the same), so that the input at the maximum can be kept beside it.
    auto group = [&](Index ow) {
      const __m128 top_lo = _mm_loadu_ps(row0 + 2 * ow), top_hi = _mm_loadu_ps(row0 + 2 * ow + 4);
      const __m128 bottom_lo = _mm_loadu_ps(row1 + 2 * ow), bottom_hi = _mm_loadu_ps(row1 + 2 * ow + 4);
      const __m128 top_left = _mm_shuffle_ps(top_lo, top_hi, _MM_SHUFFLE(2, 0, 2, 0)),
                   top_right = _mm_shuffle_ps(top_lo, top_hi, _MM_SHUFFLE(3, 1, 3, 1)),
                   bottom_left = _mm_shuffle_ps(bottom_lo, bottom_hi, _MM_SHUFFLE(2, 0, 2, 0)),
                   bottom_right = _mm_shuffle_ps(bottom_lo, bottom_hi, _MM_SHUFFLE(3, 1, 3, 1));
      __m128 best = value(top_left), best_input = top_left;
      __m128i best_at = _mm_setzero_si128();
      take_if_greater(value(top_right), top_right, _mm_set1_epi32(1), best, best_input, best_at);
      take_if_greater(value(bottom_left), bottom_left, _mm_set1_epi32(2), best, best_input, best_at);
      take_if_greater(value(bottom_right), bottom_right, _mm_set1_epi32(3), best, best_input, best_at);
      if constexpr (kThenRelu) {
        best = _mm_andnot_ps(_mm_cmple_ps(best, _mm_setzero_ps()), best);
        best_at = _mm_or_si128(best_at, _mm_and_si128(_mm_castps_si128(_mm_cmpngt_ps(best, _mm_setzero_ps())),
                                                      _mm_set1_epi32(kCodeReluBlocked)));
      }
      _mm_storeu_ps(y + ow, best);
      if constexpr (kKeepInputs) _mm_storeu_ps(input + ow, best_input);
      const std::uint32_t bytes = code_bytes(best_at);
      std::memcpy(code + ow, &bytes, sizeof bytes);
    };
#if defined(__AVX2__)
    // Eight outputs at a time where the row has eight: the same candidates, order and rule, twice as wide
    // (the even and odd columns picked out across the two 128-bit lanes).
    auto evens = [](__m256 lo, __m256 hi) {
      return _mm256_castpd_ps(_mm256_permute4x64_pd(
          _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    };
    auto odds = [](__m256 lo, __m256 hi) {
      return _mm256_castpd_ps(_mm256_permute4x64_pd(
          _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
    };
    auto take = [](__m256 input, __m256 v, __m256i v_at, __m256& best, __m256& best_input, __m256i& best_at) {
      const __m256 replace =
          _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      best = _mm256_blendv_ps(best, v, replace);
      if constexpr (kKeepInputs) best_input = _mm256_blendv_ps(best_input, input, replace);
      best_at = _mm256_castps_si256(
          _mm256_blendv_ps(_mm256_castsi256_ps(best_at), _mm256_castsi256_ps(v_at), replace));
    };
    auto group8 = [&](Index ow) {
      const __m256 top_lo = _mm256_loadu_ps(row0 + 2 * ow), top_hi = _mm256_loadu_ps(row0 + 2 * ow + 8);
      const __m256 bottom_lo = _mm256_loadu_ps(row1 + 2 * ow), bottom_hi = _mm256_loadu_ps(row1 + 2 * ow + 8);
      const __m256 top_left = evens(top_lo, top_hi), top_right = odds(top_lo, top_hi),
                   bottom_left = evens(bottom_lo, bottom_hi), bottom_right = odds(bottom_lo, bottom_hi);
      __m256 best = value(top_left), best_input = top_left;
      __m256i best_at = _mm256_setzero_si256();
      take(top_right, value(top_right), _mm256_set1_epi32(1), best, best_input, best_at);
      take(bottom_left, value(bottom_left), _mm256_set1_epi32(2), best, best_input, best_at);
      take(bottom_right, value(bottom_right), _mm256_set1_epi32(3), best, best_input, best_at);
      if constexpr (kThenRelu) {
        best = _mm256_andnot_ps(_mm256_cmp_ps(best, _mm256_setzero_ps(), _CMP_LE_OQ), best);
        best_at = _mm256_or_si256(
            best_at,
            _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(best, _mm256_setzero_ps(), _CMP_NGT_UQ)),
                             _mm256_set1_epi32(kCodeReluBlocked)));
      }
      _mm256_storeu_ps(y + ow, best);
      if constexpr (kKeepInputs) _mm256_storeu_ps(input + ow, best_input);
      const __m128i words =
          _mm_packs_epi32(_mm256_castsi256_si128(best_at), _mm256_extracti128_si256(best_at, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(code + ow), _mm_packus_epi16(words, words));
    };
    ow = in_groups_of(8, OW, group8);
    if (ow == 0) ow = in_groups_of(4, OW, group);
#else
    ow = in_groups_of(4, OW, group);
#endif
#endif
    for (; ow < OW; ++ow)
      pool_2x2_scalar<kThenRelu>(row0 + 2 * ow, row1 + 2 * ow, y + ow, code + ow,
                                 input ? input + ow : nullptr, value);
  }
}

}  // namespace

MaxPool2d::MaxPool2d(Extent2 kernel, std::optional<Extent2> stride, Extent2 padding)
    : window_{kernel, stride.value_or(kernel), padding} {
  window_.validate("maxpool2d");
  window_.validate_pool_padding("maxpool2d");
}

Shape MaxPool2d::output_shape(const Shape& in) const {
  const Extent2 out = window_.output_size("maxpool2d", in);
  if (in[2] * in[3] >= kReluBlocked)
    throw ShapeError("maxpool2d: input plane " + to_string(in) + " is too large to index with 31 bits");
  return {in[0], in[1], out.h, out.w};
}

bool MaxPool2d::two_by_two() const {
  return window_.kernel == Extent2(2) && window_.stride == Extent2(2) && window_.padding == Extent2(0);
}

void MaxPool2d::begin_forward(const Shape& in, bool then_relu, bool keep_window_inputs) {
  input_shape_ = in;
  then_relu_ = then_relu;
  ensure_shape(output_, output_shape(input_shape_));
  keeps_window_inputs_ = keep_window_inputs && two_by_two();
  // No reallocation once the batch shape is fixed.
  if (two_by_two())
    window_codes_.resize(output_.size());
  else
    argmax_.resize(output_.size());
  if (keeps_window_inputs_) window_inputs_.resize(output_.size());
}

template <class Transform>
void MaxPool2d::pool_plane(std::size_t p, const float* plane, Transform value) {
  const Index H = input_shape_[2], W = input_shape_[3], OH = output_.shape()[2], OW = output_.shape()[3];
  float* y = output_.data() + p * OH * OW;
  if (two_by_two()) {
    std::uint8_t* codes = window_codes_.data() + p * OH * OW;
    if (keeps_window_inputs_) {
      float* inputs = window_inputs_.data() + p * OH * OW;
      if (then_relu_)
        pool_plane_2x2<true, true>(plane, W, OH, OW, y, codes, inputs, value);
      else
        pool_plane_2x2<false, true>(plane, W, OH, OW, y, codes, inputs, value);
    } else if (then_relu_) {
      pool_plane_2x2<true, false>(plane, W, OH, OW, y, codes, nullptr, value);
    } else {
      pool_plane_2x2<false, false>(plane, W, OH, OW, y, codes, nullptr, value);
    }
    return;
  }
  std::uint32_t* arg = argmax_.data() + p * OH * OW;
  pool_plane_generic(plane, H, W, window_, OH, OW, y, arg, value);
  if (!then_relu_) return;
  // The ReLU on the plane just written (still in cache), and its marks.
  for (Index i = 0; i < OH * OW; ++i) {
    y[i] = rectified(y[i]);
    if (!(y[i] > 0.0f)) arg[i] |= kReluBlocked;
  }
}

void MaxPool2d::forward_plane(std::size_t p, const float* plane) {
  pool_plane(p, plane, AsIs{});
}

void MaxPool2d::forward_plane(std::size_t p, const float* plane, const AffineRelu& before) {
  if (!then_relu_) throw Error("maxpool2d: forward_plane through a ReLU needs begin_forward with then_relu");
  pool_plane(p, plane, ThroughAffine{before.center, before.scale, before.shift});
}

const Tensor& MaxPool2d::forward(const Tensor& x, Mode) {
  begin_forward(shape_of(x));
  const std::size_t plane = input_shape_[2] * input_shape_[3];
  // Planes are independent: split them over the pool (results do not depend on the split).
  core::parallel_for(input_shape_[0] * input_shape_[1], [&](std::size_t first, std::size_t last, int) {
    for (std::size_t p = first; p < last; ++p) forward_plane(p, x.data() + p * plane);
  });
  return output_;
}

namespace {

// 2×2/stride 2 windows do not overlap: every input position belongs to at most one window, so dx is
// written in one pass (the window's gradient at the position its code names, else 0) instead of
// zero-filling the whole gradient and scattering into it. A code with kCodeReluBlocked names no position
// and routes nothing.
#if defined(BNLAB_POOL_AVX512)
// The forward's groups in reverse: each window's gradient kept at the position its code names, and the
// left and right candidates interleaved back into the two sources' input rows. store(at, mask, v) writes
// the 16 values v of the plane's positions [at, at + 16) that mask selects.
template <class Store>
void unpool_plane_2x2_avx512(const float* g, const std::uint8_t* codes, Index W, Index OH, Index OW,
                             Store store) {
  const Avx512Groups groups(OW);
  alignas(64) std::int32_t first_half[16], second_half[16];
  for (Index q = 0; q < 16; ++q) {
    first_half[q] = static_cast<std::int32_t>((q & 1 ? 16 : 0) + q / 2);
    second_half[q] = static_cast<std::int32_t>(first_half[q] + groups.half);
  }
  const __m512i to_a = _mm512_load_si512(first_half), to_b = _mm512_load_si512(second_half);
  for_each_avx512_group(
      W, OH, OW, [&](Index a, Index a_floats, Index b, Index b_floats, Index first, Index windows) {
        const __mmask16 in_mask = first_lanes(windows);
        const __m512 grad = _mm512_maskz_loadu_ps(in_mask, g + first);
        const __m512i code =
            _mm512_maskz_cvtepu8_epi32(in_mask, _mm_maskz_loadu_epi8(in_mask, codes + first));
        auto keep_where = [&](int position) {
          return _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(code, _mm512_set1_epi32(position)), grad);
        };
        const __m512 top_left = keep_where(0), top_right = keep_where(1);
        const __m512 bottom_left = keep_where(2), bottom_right = keep_where(3);
        const __mmask16 a_mask = first_lanes(a_floats), b_mask = first_lanes(b_floats);
        store(a, a_mask, _mm512_permutex2var_ps(top_left, to_a, top_right));
        store(b, b_mask, _mm512_permutex2var_ps(top_left, to_b, top_right));
        store(a + W, a_mask, _mm512_permutex2var_ps(bottom_left, to_a, bottom_right));
        store(b + W, b_mask, _mm512_permutex2var_ps(bottom_left, to_b, bottom_right));
      });
}
#endif

void unpool_plane_2x2(const float* g, const std::uint8_t* codes, Index H, Index W, Index OH, Index OW,
                      float* dx) {
#if defined(BNLAB_POOL_AVX512)
  unpool_plane_2x2_avx512(g, codes, W, OH, OW, [dx](Index at, __mmask16 mask, __m512 v) {
    _mm512_mask_storeu_ps(dx + at, mask, v);
  });
  if (W % 2 != 0)
    for (Index oh = 0; oh < OH; ++oh) dx[2 * oh * W + W - 1] = dx[(2 * oh + 1) * W + W - 1] = 0.0f;
  std::fill(dx + 2 * OH * W, dx + H * W, 0.0f);
  return;
#endif
  for (Index oh = 0; oh < OH; ++oh) {
    float* row0 = dx + 2 * oh * W;
    float* row1 = row0 + W;
    Index ow = 0;
#if defined(__AVX2__)
    // Each window's gradient and code spread to its two columns (vpermps), kept in the top row where the
    // code is 0 or 1 and in the bottom row where it is 2 or 3: two stores per four windows and no
    // interleaving shuffles (20% faster than comparing per position and interleaving, on Zen 3).
    const __m256i spread_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3),
                  spread_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    const __m256i top = _mm256_setr_epi32(0, 1, 0, 1, 0, 1, 0, 1),
                  bottom = _mm256_setr_epi32(2, 3, 2, 3, 2, 3, 2, 3);
    const float* grad_row = g + oh * OW;
    const std::uint8_t* code_row = codes + oh * OW;
    auto four = [&](__m256 grad, __m256i code, __m256i spread, Index ow) {
      const __m256 grad2 = _mm256_permutevar8x32_ps(grad, spread);
      const __m256i code2 = _mm256_permutevar8x32_epi32(code, spread);
      _mm256_storeu_ps(row0 + 2 * ow,
                       _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(code2, top)), grad2));
      _mm256_storeu_ps(row1 + 2 * ow,
                       _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(code2, bottom)), grad2));
    };
    // Groups of eight windows, else of four; a last partial group is done as the final windows, recomputing
    // a few of the previous group (same inputs, same results) instead of falling back to scalar code.
    ow = in_groups_of(8, OW, [&](Index ow) {
      const __m256 grad = _mm256_loadu_ps(grad_row + ow);
      const __m256i code =
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(code_row + ow)));
      four(grad, code, spread_lo, ow);
      four(grad, code, spread_hi, ow + 4);
    });
    if (ow == 0)
      ow = in_groups_of(4, OW, [&](Index ow) {
        std::uint32_t bytes;
        std::memcpy(&bytes, code_row + ow, sizeof bytes);
        four(_mm256_castps128_ps256(_mm_loadu_ps(grad_row + ow)),
             _mm256_cvtepu8_epi32(_mm_cvtsi32_si128(static_cast<int>(bytes))), spread_lo, ow);
      });
#elif defined(__SSE2__)
    // Four windows at a time: compare each code with the window's four positions, keep dy where equal, and
    // interleave the results back into the two input rows.
    ow = in_groups_of(4, OW, [&](Index ow) {
      const __m128 grad = _mm_loadu_ps(g + oh * OW + ow);
      std::uint32_t bytes;
      std::memcpy(&bytes, codes + oh * OW + ow, sizeof bytes);
      const __m128i zero = _mm_setzero_si128();
      const __m128i code =
          _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(static_cast<int>(bytes)), zero), zero);
      auto keep_where = [&](int position) {
        return _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(code, _mm_set1_epi32(position))), grad);
      };
      const __m128 top_left = keep_where(0), top_right = keep_where(1);
      const __m128 bottom_left = keep_where(2), bottom_right = keep_where(3);
      _mm_storeu_ps(row0 + 2 * ow, _mm_unpacklo_ps(top_left, top_right));
      _mm_storeu_ps(row0 + 2 * ow + 4, _mm_unpackhi_ps(top_left, top_right));
      _mm_storeu_ps(row1 + 2 * ow, _mm_unpacklo_ps(bottom_left, bottom_right));
      _mm_storeu_ps(row1 + 2 * ow + 4, _mm_unpackhi_ps(bottom_left, bottom_right));
    });
#endif
    for (; ow < OW; ++ow) {
      const float grad = g[oh * OW + ow];
      const std::uint8_t code = codes[oh * OW + ow];
      row0[2 * ow] = code == 0 ? grad : 0.0f;
      row0[2 * ow + 1] = code == 1 ? grad : 0.0f;
      row1[2 * ow] = code == 2 ? grad : 0.0f;
      row1[2 * ow + 1] = code == 3 ? grad : 0.0f;
    }
    // An odd width leaves a last column that no window covers.
    for (Index w = 2 * OW; w < W; ++w) row0[w] = row1[w] = 0.0f;
  }
  // Likewise an odd height leaves a last row.
  std::fill(dx + 2 * OH * W, dx + H * W, 0.0f);
}

}  // namespace

const float* MaxPool2d::window_inputs(std::size_t p) const {
  if (!keeps_window_inputs_) throw Error("maxpool2d: window_inputs without begin_forward keeping them");
  return window_inputs_.data() + p * windows_per_plane();
}

void MaxPool2d::window_gradients(std::size_t first_plane, std::size_t planes, const Tensor& dy,
                                 float* g) const {
  const std::size_t first = first_plane * windows_per_plane(), count = planes * windows_per_plane();
  const float* d = dy.data() + first;
  if (two_by_two()) {
    const std::uint8_t* codes = window_codes_.data() + first;
    for (std::size_t q = 0; q < count; ++q) g[q] = codes[q] & kCodeReluBlocked ? 0.0f : d[q];
  } else {
    const std::uint32_t* arg = argmax_.data() + first;
    for (std::size_t q = 0; q < count; ++q) g[q] = arg[q] & kReluBlocked ? 0.0f : d[q];
  }
}

void MaxPool2d::backward_plane(std::size_t p, const Tensor& dy, float* dx) const {
  const Index H = input_shape_[2], W = input_shape_[3], OH = dy.shape()[2], OW = dy.shape()[3];
  const float* g = dy.data() + p * OH * OW;
  if (two_by_two()) {
    unpool_plane_2x2(g, window_codes_.data() + p * OH * OW, H, W, OH, OW, dx);
    return;
  }
  const std::uint32_t* arg = argmax_.data() + p * OH * OW;
  std::fill(dx, dx + H * W, 0.0f);
  for (Index i = 0; i < OH * OW; ++i)
    if (!(arg[i] & kReluBlocked)) dx[arg[i]] += g[i];
}

void MaxPool2d::backward_plane(std::size_t p, const Tensor& dy, const float* x, const GradAffine& after,
                               float* dx) const {
#if defined(BNLAB_POOL_AVX512)
  const Index H = input_shape_[2], W = input_shape_[3], OH = dy.shape()[2], OW = dy.shape()[3];
  if (two_by_two()) {
    const __m512 center = _mm512_set1_ps(after.center), scale = _mm512_set1_ps(after.scale),
                 slope = _mm512_set1_ps(after.slope), offset = _mm512_set1_ps(after.offset);
    // GradAffine's operations in its order, on 16 positions.
    unpool_plane_2x2_avx512(dy.data() + p * OH * OW, window_codes_.data() + p * OH * OW, W, OH, OW,
                            [&](Index at, __mmask16 mask, __m512 g) {
                              const __m512 xc = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + at), center);
                              _mm512_mask_storeu_ps(
                                  dx + at, mask,
                                  _mm512_add_ps(_mm512_fmadd_ps(scale, g, _mm512_mul_ps(slope, xc)), offset));
                            });
    // Positions no window covers (an odd width's last column, an odd height's last row) get no gradient.
    if (W % 2 != 0)
      for (Index h = 0; h < 2 * OH; ++h) dx[h * W + W - 1] = after(0.0f, x[h * W + W - 1]);
    for (Index i = 2 * OH * W; i < H * W; ++i) dx[i] = after(0.0f, x[i]);
    return;
  }
#endif
  backward_plane(p, dy, dx);
  for (std::size_t i = 0, n = input_plane_size(); i < n; ++i) dx[i] = after(dx[i], x[i]);
}

const Tensor& MaxPool2d::backward(const Tensor& dy) {
  ensure_shape(input_grad_, input_shape_);
  const std::size_t plane = input_shape_[2] * input_shape_[3];
  core::parallel_for(input_shape_[0] * input_shape_[1], [&](std::size_t first, std::size_t last, int) {
    for (std::size_t p = first; p < last; ++p) backward_plane(p, dy, input_grad_.data() + p * plane);
  });
  return input_grad_;
}

nlohmann::json MaxPool2d::describe() const {
  nlohmann::json out = {{"type", type()}};
  out.update(window_.describe());
  return out;
}

}  // namespace bnlab::nn
