// Per-block normalization forward and backward over contiguous memory, one channel run at a time.
#include "nn/segment_norm.hpp"

#include <cmath>

#include "nn/lane_sum.hpp"

namespace bnlab::nn::segment_norm {

Stats forward(const float* x, float* y, std::size_t channels, std::size_t positions, double eps,
              const Affine& affine) {
  const std::size_t count = channels * positions;
  const double mean =
      lane_sum(count, [x](std::size_t i) { return double(x[i]); }) / static_cast<double>(count);
  const double squares = lane_sum(count, [x, mean](std::size_t i) {
    const double d = x[i] - mean;
    return d * d;
  });
  const Stats stats{static_cast<float>(mean),
                    static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(count) + eps))};

  const float m = stats.mean, inv_std = stats.inv_std;
  for (std::size_t c = 0; c < channels; ++c) {
    const float* xc = x + c * positions;
    float* yc = y + c * positions;
    if (!affine.gamma) {
      for (std::size_t p = 0; p < positions; ++p) yc[p] = (xc[p] - m) * inv_std;
    } else if (affine.per_element) {
      const float* gc = affine.gamma + c * positions;
      const float* bc = affine.beta + c * positions;
      for (std::size_t p = 0; p < positions; ++p) yc[p] = (xc[p] - m) * inv_std * gc[p] + bc[p];
    } else {
      const float scale = inv_std * affine.gamma[c], shift = affine.beta[c];
      for (std::size_t p = 0; p < positions; ++p) yc[p] = (xc[p] - m) * scale + shift;
    }
  }
  return stats;
}

void backward(const float* x, const float* dy, float* dx, std::size_t channels, std::size_t positions,
              Stats stats, const Affine& affine, double* dgamma, double* dbeta) {
  const std::size_t count = channels * positions;
  const float mean = stats.mean, inv_std = stats.inv_std;
  // Pass 1: Σ ĝ and Σ ĝ·x̂ over the block (ĝ = dy·γ), and the γ/β gradients.
  double sum_g = 0.0, sum_g_xhat = 0.0;
  if (affine.gamma && affine.per_element) {
    const float* gamma = affine.gamma;
    lane_sum2(
        count, [=](std::size_t i) { return double(dy[i]) * gamma[i]; },
        [=](std::size_t i) { return double(dy[i]) * gamma[i] * ((x[i] - mean) * inv_std); }, sum_g,
        sum_g_xhat);
    if (dgamma && dbeta)
      for (std::size_t i = 0; i < count; ++i) {
        dgamma[i] += double(dy[i]) * ((x[i] - mean) * inv_std);
        dbeta[i] += dy[i];
      }
  } else {
    for (std::size_t c = 0; c < channels; ++c) {
      const float* xc = x + c * positions;
      const float* dyc = dy + c * positions;
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      lane_sum2(
          positions, [=](std::size_t p) { return double(dyc[p]); },
          [=](std::size_t p) { return double(dyc[p]) * ((xc[p] - mean) * inv_std); }, sum_dy, sum_dy_xhat);
      const double gamma = affine.gamma ? affine.gamma[c] : 1.0;
      sum_g += gamma * sum_dy;
      sum_g_xhat += gamma * sum_dy_xhat;
      if (dgamma) dgamma[c] += sum_dy_xhat;
      if (dbeta) dbeta[c] += sum_dy;
    }
  }
  // Pass 2: dx = 1/σ·ĝ + slope·(x − μ) + offset, the compact formula expanded per element.
  const double mean_g = sum_g / static_cast<double>(count),
               mean_g_xhat = sum_g_xhat / static_cast<double>(count);
  const float slope = static_cast<float>(-double(inv_std) * inv_std * mean_g_xhat);
  const float offset = static_cast<float>(-double(inv_std) * mean_g);
  for (std::size_t c = 0; c < channels; ++c) {
    const float* xc = x + c * positions;
    const float* dyc = dy + c * positions;
    float* dxc = dx + c * positions;
    if (affine.gamma && affine.per_element) {
      const float* gc = affine.gamma + c * positions;
      for (std::size_t p = 0; p < positions; ++p)
        dxc[p] = inv_std * (dyc[p] * gc[p]) + slope * (xc[p] - mean) + offset;
    } else {
      const float scale = inv_std * (affine.gamma ? affine.gamma[c] : 1.0f);
      for (std::size_t p = 0; p < positions; ++p) dxc[p] = scale * dyc[p] + slope * (xc[p] - mean) + offset;
    }
  }
}

}  // namespace bnlab::nn::segment_norm
