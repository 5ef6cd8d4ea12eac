// The mean and Σ(x − mean)² of one contiguous run of floats: BatchNorm's statistics of one image plane.
#pragma once

#include <cstddef>

namespace bnlab::nn {

// Mean and Σ(x − mean)² of run[0, n), n ≥ 1, from shifted sums in double: with d = x − x₀ and x₀ = run[0]
// (which keeps them accurate when |mean| ≫ σ while reading the run once), Σd and Σd² in the order of
// run_sums2 (lane_sum.hpp: term i in lane i mod 32, the lanes folded pairwise, d² added by a fused
// multiply-add where the target has one). With AVX-512 an explicit loop (GCC's vectorized run_sums2 loaded
// and converted every value twice, and spent as much again on the tail and fold of a 14×14 plane), else
// run_moments_portable: the same bits.
void run_moments(const float* run, std::size_t n, double& mean, double& m2);
void run_moments_portable(const float* run, std::size_t n, double& mean, double& m2);

}  // namespace bnlab::nn
