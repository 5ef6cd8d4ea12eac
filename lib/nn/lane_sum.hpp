// Double-precision sums over contiguous float runs that the compiler can vectorize, for the norm layers.
#pragma once

#include <cstddef>

namespace bnlab::nn {

// A single double accumulator is a serial dependency chain (measured ~8× slower than eight lanes);
// independent partial sums let the compiler use vector lanes without -ffast-math reassociation. 32 lanes
// are four AVX-512 (eight AVX2) accumulators, enough to hide the add latency.
inline constexpr std::size_t kSumLanes = 32;

// What runs before each full group of 32 elements: nothing, or a prefetch of what comes later.
struct NoGroupHook {
  void operator()(std::size_t /*first*/) const {}
};

// add(j, i) for i < n, element i going to lane j = i mod 32: full groups of 32 (before_group(i) called
// with the first of each), then the rest.
template <class Add, class BeforeGroup = NoGroupHook>
void for_each_lane(std::size_t n, Add add, BeforeGroup before_group = {}) {
  std::size_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes) {
    before_group(i);
    for (std::size_t j = 0; j < kSumLanes; ++j) add(j, i + j);
  }
  for (std::size_t j = 0; i + j < n; ++j) add(j, i + j);
}

// Folds lanes [0, 2·width) onto [0, width), with a constant trip count so the compiler keeps the lanes in
// registers.
template <std::size_t width>
inline void fold_lanes(double* lanes) {
  for (std::size_t j = 0; j < width; ++j) lanes[j] += lanes[j + width];
}

// The sum of 32 lanes, folded pairwise (five dependent adds instead of 32): the one order every lane sum
// ends with. lanes[0] holds it afterwards.
inline double fold_all_lanes(double* lanes) {
  static_assert(kSumLanes == 32, "the fold is written for 32 lanes");
  fold_lanes<16>(lanes), fold_lanes<8>(lanes), fold_lanes<4>(lanes), fold_lanes<2>(lanes),
      fold_lanes<1>(lanes);
  return lanes[0];
}

// Lanes that stay open across many runs (BatchNorm adds a channel's N runs of H·W values): folding the
// lanes into one number per run cost more than the run itself for 8×8 maps, so they are folded once, at
// the end, pairwise (five dependent adds instead of 32).
struct LaneSums {
  double lane[kSumLanes] = {};

  template <class Term>
  void add_run(std::size_t n, Term term) {
    for_each_lane(n, [&](std::size_t j, std::size_t i) { lane[j] += term(i); });
  }

  double total() const {
    double fold[kSumLanes];
    for (std::size_t j = 0; j < kSumLanes; ++j) fold[j] = lane[j];
    return fold_all_lanes(fold);
  }
};

// Two sums over the same runs in one pass over memory.
struct LaneSums2 {
  LaneSums a, b;

  // The lanes are copied into locals for the run: accumulated in the members they were stored and reloaded
  // every 32 values (the compiler cannot keep an array member in registers across the loop), a chain of
  // store-to-load latencies that made BatchNorm's sums ~2× slower. The additions are the same, in order.
  template <class TermA, class TermB, class BeforeGroup = NoGroupHook>
  void add_run(std::size_t n, TermA term_a, TermB term_b, BeforeGroup before_group = {}) {
    double la[kSumLanes], lb[kSumLanes];
    for (std::size_t j = 0; j < kSumLanes; ++j) {
      la[j] = a.lane[j];
      lb[j] = b.lane[j];
    }
    for_each_lane(
        n,
        [&](std::size_t j, std::size_t i) {
          la[j] += term_a(i);
          lb[j] += term_b(i);
        },
        before_group);
    for (std::size_t j = 0; j < kSumLanes; ++j) {
      a.lane[j] = la[j];
      b.lane[j] = lb[j];
    }
  }
};

// Σ term_a(i) and Σ term_b(i) for i < n, each in fresh lanes folded pairwise: the same numbers as a new
// LaneSums2's add_run followed by total(), with the lanes in locals from start to fold (a LaneSums2 per
// run, copied in, out and into the fold by a loop of variable trip count, made BatchNorm's per-run sums of
// 14×14 planes 25% slower).
template <class TermA, class TermB, class BeforeGroup = NoGroupHook>
void run_sums2(std::size_t n, TermA term_a, TermB term_b, BeforeGroup before_group, double& sum_a,
               double& sum_b) {
  double la[kSumLanes] = {}, lb[kSumLanes] = {};
  for_each_lane(
      n,
      [&](std::size_t j, std::size_t i) {
        la[j] += term_a(i);
        lb[j] += term_b(i);
      },
      before_group);
  sum_a = fold_all_lanes(la);
  sum_b = fold_all_lanes(lb);
}

// Σ term_a(i) and Σ term_b(i) over an H×W run of values (i = h·W + w) in 2×2 blocks: each block's sum is
// (top left + bottom left) + (top right + bottom right) (terms past an odd edge left out), and the blocks'
// sums are added in row-major block order as run_sums2 adds them. A 2×2 max pooling's unpooled gradient
// has one term per block that can be nonzero, so sums of it are the same, bit for bit, taken window by
// window over a quarter of the values (run_sums2 over the windows: BatchNorm fused with the pooling);
// adding the block's +0s changes nothing. scratch holds block_run_scratch(H, W) doubles.
inline std::size_t block_run_scratch(std::size_t height, std::size_t width) {
  return 2 * (height * width + (height + 1) / 2 * ((width + 1) / 2));
}

// One row of 2×2 block sums from the terms of its two rows (bottom null past an odd height). Restrict-
// qualified: GCC otherwise checks at run time whether the arrays overlap.
inline void add_blocks(const double* __restrict__ top, const double* __restrict__ bottom,
                       double* __restrict__ blocks, std::size_t width) {
  const std::size_t pairs = width / 2;
  if (bottom) {
    for (std::size_t j = 0; j < pairs; ++j)
      blocks[j] = (top[2 * j] + bottom[2 * j]) + (top[2 * j + 1] + bottom[2 * j + 1]);
    if (width % 2 != 0) blocks[pairs] = top[width - 1] + bottom[width - 1];
  } else {
    for (std::size_t j = 0; j < pairs; ++j) blocks[j] = top[2 * j] + top[2 * j + 1];
    if (width % 2 != 0) blocks[pairs] = top[width - 1];
  }
}

template <class TermA, class TermB, class BeforeGroup>
void block_run_sums2(std::size_t height, std::size_t width, TermA term_a, TermB term_b,
                     BeforeGroup before_group, double* scratch, double& sum_a, double& sum_b) {
  // The terms first, over the run as one array in groups of 32 (rows of 8 to 28 values, each on its own,
  // left GCC's vectorized loop unused: block sums 2–6× slower than run_sums2 over the values).
  const std::size_t n = height * width, block_width = (width + 1) / 2,
                    blocks = (height + 1) / 2 * block_width;
  double* terms_a = scratch;
  double* terms_b = terms_a + n;
  double* blocks_a = terms_b + n;
  double* blocks_b = blocks_a + blocks;
  for_each_lane(
      n,
      [terms_a, terms_b, &term_a, &term_b](std::size_t, std::size_t i) {
        terms_a[i] = term_a(i);
        terms_b[i] = term_b(i);
      },
      before_group);
  for (std::size_t h = 0; h < height; h += 2) {
    const std::size_t top = h * width, first = h / 2 * block_width;
    const bool bottom = h + 1 < height;
    add_blocks(terms_a + top, bottom ? terms_a + top + width : nullptr, blocks_a + first, width);
    add_blocks(terms_b + top, bottom ? terms_b + top + width : nullptr, blocks_b + first, width);
  }
  run_sums2(
      blocks, [blocks_a](std::size_t q) { return blocks_a[q]; },
      [blocks_b](std::size_t q) { return blocks_b[q]; }, NoGroupHook{}, sum_a, sum_b);
}

// Σ term(i) for i < n, term returning double.
template <class Term>
double lane_sum(std::size_t n, Term term) {
  LaneSums sums;
  sums.add_run(n, term);
  return sums.total();
}

// Two sums in one pass over the run: sum_a += Σ term_a(i), sum_b += Σ term_b(i).
template <class TermA, class TermB>
void lane_sum2(std::size_t n, TermA term_a, TermB term_b, double& sum_a, double& sum_b) {
  LaneSums2 sums;
  sums.add_run(n, term_a, term_b);
  sum_a += sums.a.total();
  sum_b += sums.b.total();
}

}  // namespace bnlab::nn
