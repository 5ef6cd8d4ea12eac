// Per-block normalization forward and backward over contiguous memory, one channel run at a time.
#include "nn/segment_norm.hpp"

#include <cmath>

#include "core/parallel.hpp"
#include "nn/lane_sum.hpp"

namespace bnlab::nn::segment_norm {

Stats statistics(const float* x, std::size_t count, double eps) {
  const double mean =
      lane_sum(count, [x](std::size_t i) { return double(x[i]); }) / static_cast<double>(count);
  const double squares = lane_sum(count, [x, mean](std::size_t i) {
    const double d = x[i] - mean;
    return d * d;
  });
  const Stats stats{static_cast<float>(mean),
                    static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(count) + eps))};
  return stats;
}

void normalize_run(const float* x, float* y, std::size_t c, std::size_t positions, Stats stats,
                   const Affine& affine) {
  const float m = stats.mean, inv_std = stats.inv_std;
  if (!affine.gamma) {
    for (std::size_t p = 0; p < positions; ++p) y[p] = (x[p] - m) * inv_std;
  } else if (affine.per_element) {
    const float *gamma = affine.gamma + c * positions, *beta = affine.beta + c * positions;
    for (std::size_t p = 0; p < positions; ++p) y[p] = (x[p] - m) * inv_std * gamma[p] + beta[p];
  } else {
    const float scale = inv_std * affine.gamma[c], shift = affine.beta[c];
    for (std::size_t p = 0; p < positions; ++p) y[p] = (x[p] - m) * scale + shift;
  }
}

Stats forward(const float* x, float* y, std::size_t channels, std::size_t positions, double eps,
              const Affine& affine) {
  const std::size_t count = channels * positions;
  const Stats stats = statistics(x, count, eps);
  if (!affine.gamma || affine.per_element) {
    // The block is contiguous: without γ, or with one per element, it is one run of count values.
    normalize_run(x, y, 0, count, stats, affine);
  } else if (positions == 1) {
    // Dense input: one loop across the channels instead of a loop of one value per channel.
    const float m = stats.mean, inv_std = stats.inv_std;
    for (std::size_t c = 0; c < channels; ++c)
      y[c] = (x[c] - m) * (inv_std * affine.gamma[c]) + affine.beta[c];
  } else {
    for (std::size_t c = 0; c < channels; ++c)
      normalize_run(x + c * positions, y + c * positions, c, positions, stats, affine);
  }
  return stats;
}

void backward(const float* x, const float* dy, float* dx, std::size_t channels, std::size_t positions,
              Stats stats, const Affine& affine, const GradSinks& sinks) {
  const std::size_t count = channels * positions;
  const float mean = stats.mean, inv_std = stats.inv_std;
  // Pass 1: Σ ĝ and Σ ĝ·x̂ over the block (ĝ = dy·γ), and each channel's Σ dy·x̂ and Σ dy.
  double sum_g = 0.0, sum_g_xhat = 0.0;
  if (affine.gamma && affine.per_element) {
    const float* gamma = affine.gamma;
    lane_sum2(
        count, [=](std::size_t i) { return double(dy[i]) * gamma[i]; },
        [=](std::size_t i) { return double(dy[i]) * gamma[i] * ((x[i] - mean) * inv_std); }, sum_g,
        sum_g_xhat);
    if (sinks.dgamma && sinks.dbeta) add_element_grads(x, dy, 0, count, stats, sinks.dgamma, sinks.dbeta);
  } else {
    for (std::size_t c = 0; c < channels; ++c) {
      const float* xc = x + c * positions;
      const float* dyc = dy + c * positions;
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      if (positions == 1) {
        // Dense input (GroupNorm after a dense layer): a lane sum of one value is 0.0 + value, but setting
        // up and folding its 32 lanes per channel made this loop 3× the cost of the whole rest of the step.
        sum_dy += 0.0 + double(dyc[0]);
        sum_dy_xhat += 0.0 + double(dyc[0]) * ((xc[0] - mean) * inv_std);
      } else {
        lane_sum2(
            positions, [=](std::size_t p) { return double(dyc[p]); },
            [=](std::size_t p) { return double(dyc[p]) * ((xc[p] - mean) * inv_std); }, sum_dy, sum_dy_xhat);
      }
      const double gamma = affine.gamma ? affine.gamma[c] : 1.0;
      sum_g += gamma * sum_dy;
      sum_g_xhat += gamma * sum_dy_xhat;
      if (sinks.channel_dy_xhat) sinks.channel_dy_xhat[c] = sum_dy_xhat;
      if (sinks.channel_dy) sinks.channel_dy[c] = sum_dy;
    }
  }
  // Pass 2: dx = 1/σ·ĝ + slope·(x − μ) + offset, the compact formula expanded per element.
  const double mean_g = sum_g / static_cast<double>(count),
               mean_g_xhat = sum_g_xhat / static_cast<double>(count);
  const float slope = static_cast<float>(-double(inv_std) * inv_std * mean_g_xhat);
  const float offset = static_cast<float>(-double(inv_std) * mean_g);
  if (affine.gamma && affine.per_element) {
    const float* gamma = affine.gamma;
    for (std::size_t i = 0; i < count; ++i)
      dx[i] = inv_std * (dy[i] * gamma[i]) + slope * (x[i] - mean) + offset;
  } else if (positions == 1) {
    for (std::size_t c = 0; c < channels; ++c) {
      const float scale = inv_std * (affine.gamma ? affine.gamma[c] : 1.0f);
      dx[c] = scale * dy[c] + slope * (x[c] - mean) + offset;
    }
  } else {
    for (std::size_t c = 0; c < channels; ++c) {
      const float* xc = x + c * positions;
      const float* dyc = dy + c * positions;
      float* dxc = dx + c * positions;
      const float scale = inv_std * (affine.gamma ? affine.gamma[c] : 1.0f);
      for (std::size_t p = 0; p < positions; ++p) dxc[p] = scale * dyc[p] + slope * (xc[p] - mean) + offset;
    }
  }
}

void add_channel_grads(std::size_t batch, std::size_t channels, const double* channel_dy_xhat,
                       const double* channel_dy, double* dgamma, double* dbeta) {
  for (std::size_t n = 0; n < batch; ++n)
    for (std::size_t c = 0; c < channels; ++c) {
      dgamma[c] += channel_dy_xhat[n * channels + c];
      dbeta[c] += channel_dy[n * channels + c];
    }
}

void add_element_grads(const float* x, const float* dy, std::size_t first, std::size_t last, Stats stats,
                       double* dgamma, double* dbeta) {
  const float mean = stats.mean, inv_std = stats.inv_std;
  for (std::size_t i = first; i < last; ++i) {
    dgamma[i] += double(dy[i]) * ((x[i] - mean) * inv_std);
    dbeta[i] += dy[i];
  }
}

bool splits(std::size_t count, std::size_t item_size) {
  // As BatchNorm's threshold: below it the pool's hand-off costs more than the work.
  constexpr std::size_t kParallelValues = 1 << 15;
  return core::threads() > 1 && count > 1 && count * item_size >= kParallelValues;
}

void for_ranges(std::size_t count, std::size_t item_size,
                const std::function<void(std::size_t, std::size_t)>& body) {
  if (!splits(count, item_size)) {
    body(0, count);
    return;
  }
  core::parallel_for(count, [&](std::size_t first, std::size_t last, int) { body(first, last); });
}

}  // namespace bnlab::nn::segment_norm
