// The kernel LayerNorm and GroupNorm share: normalize one contiguous block [channels × positions] of one
// sample by the block's own mean and biased variance, then apply γ/β per channel or per element.
#pragma once

#include <cstddef>

namespace bnlab::nn::segment_norm {

// γ/β of one block: gamma[c] (per channel) or gamma[c·positions + p] (per element); null = no affine.
struct Affine {
  const float* gamma = nullptr;
  const float* beta = nullptr;
  bool per_element = false;
};

// What forward normalized with, cached for backward.
struct Stats {
  float mean = 0.0f;
  float inv_std = 1.0f;
};

// y = (x − μ)/√(σ² + eps)·γ + β over the block; sums in double, two passes.
Stats forward(const float* x, float* y, std::size_t channels, std::size_t positions, double eps,
              const Affine& affine);

// Writes dx = 1/σ·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ, and, when both are given, ADDS Σ dy·x̂ and Σ dy
// into dgamma/dbeta (indexed like γ; summing over the batch is the caller's loop).
void backward(const float* x, const float* dy, float* dx, std::size_t channels, std::size_t positions,
              Stats stats, const Affine& affine, double* dgamma, double* dbeta);

}  // namespace bnlab::nn::segment_norm
