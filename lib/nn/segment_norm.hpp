// The kernel LayerNorm and GroupNorm share: normalize one contiguous block [channels × positions] of one
// sample by the block's own mean and biased variance, then apply γ/β per channel or per element.
#pragma once

#include <cstddef>
#include <functional>

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

// The block's mean and 1/√(σ² + eps) (biased variance) of count values; sums in double, two passes.
Stats statistics(const float* x, std::size_t count, double eps);
// forward's y over channel c's run of positions values (x and y point at the run), with γ/β taken as
// forward takes them there: a fused caller normalizes a block run by run with it.
void normalize_run(const float* x, float* y, std::size_t c, std::size_t positions, Stats stats,
                   const Affine& affine);
// y = (x − μ)/√(σ² + eps)·γ + β over the block, with statistics(x, channels·positions, eps).
Stats forward(const float* x, float* y, std::size_t channels, std::size_t positions, double eps,
              const Affine& affine);

// Where the γ/β gradients of one block go. Per-channel (or no) γ: channel_dy_xhat and channel_dy, if
// given, receive each channel's Σ dy·x̂ and Σ dy (written, not added: the gradients are their sums over the
// batch, which the caller takes in sample order, so splitting samples over threads changes nothing).
// Per-element γ: dgamma and dbeta, if given, get dy·x̂ and dy ADDED (a caller splitting samples over
// threads leaves them null and calls add_element_grads afterwards).
struct GradSinks {
  double* channel_dy_xhat = nullptr;
  double* channel_dy = nullptr;
  double* dgamma = nullptr;
  double* dbeta = nullptr;
};

// Writes dx = 1/σ·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ, and the γ/β gradient parts into sinks.
void backward(const float* x, const float* dy, float* dx, std::size_t channels, std::size_t positions,
              Stats stats, const Affine& affine, const GradSinks& sinks);

// Per-channel γ: ADDS the batch's channel_dy_xhat and channel_dy ([N·C], GradSinks's per-sample parts)
// into dgamma and dbeta ([C]), in sample order.
void add_channel_grads(std::size_t batch, std::size_t channels, const double* channel_dy_xhat,
                       const double* channel_dy, double* dgamma, double* dbeta);

// Per-element γ: ADDS dy·x̂ into dgamma and dy into dbeta at the block's elements [first, last).
void add_element_grads(const float* x, const float* dy, std::size_t first, std::size_t last, Stats stats,
                       double* dgamma, double* dbeta);

// Whether for_ranges splits count items of item_size values each over the thread pool: when there is more
// than one thread and enough values to pay for the hand-off.
bool splits(std::size_t count, std::size_t item_size);
// body(first, last) over [0, count) items: split over the thread pool when splits(), else all on this
// thread.
void for_ranges(std::size_t count, std::size_t item_size,
                const std::function<void(std::size_t, std::size_t)>& body);

}  // namespace bnlab::nn::segment_norm
