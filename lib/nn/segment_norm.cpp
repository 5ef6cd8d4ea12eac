// Per-block normalization forward and backward over contiguous memory, one channel run at a time.
#include "nn/segment_norm.hpp"

#include <cmath>

namespace bnlab::nn::segment_norm {

Stats forward(const float* x, float* y, std::size_t channels, std::size_t positions, double eps,
              const Affine& affine) {
  const std::size_t count = channels * positions;
  double sum = 0.0;
  for (std::size_t i = 0; i < count; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(count);
  double squares = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    const double d = x[i] - mean;
    squares += d * d;
  }
  const Stats stats{static_cast<float>(mean),
                    static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(count) + eps))};

  for (std::size_t c = 0; c < channels; ++c) {
    const float* xc = x + c * positions;
    float* yc = y + c * positions;
    if (!affine.gamma) {
      for (std::size_t p = 0; p < positions; ++p) yc[p] = (xc[p] - stats.mean) * stats.inv_std;
    } else if (affine.per_element) {
      const float* gc = affine.gamma + c * positions;
      const float* bc = affine.beta + c * positions;
      for (std::size_t p = 0; p < positions; ++p)
        yc[p] = (xc[p] - stats.mean) * stats.inv_std * gc[p] + bc[p];
    } else {
      const float scale = stats.inv_std * affine.gamma[c], shift = affine.beta[c];
      for (std::size_t p = 0; p < positions; ++p) yc[p] = (xc[p] - stats.mean) * scale + shift;
    }
  }
  return stats;
}

void backward(const float* x, const float* dy, float* dx, std::size_t channels, std::size_t positions,
              Stats stats, const Affine& affine, double* dgamma, double* dbeta) {
  const std::size_t count = channels * positions;
  const float mean = stats.mean, inv_std = stats.inv_std;
  // Pass 1: Σ ĝ and Σ ĝ·x̂ for the block, and the γ/β gradients.
  double sum_g = 0.0, sum_g_xhat = 0.0;
  for (std::size_t c = 0; c < channels; ++c) {
    const float* xc = x + c * positions;
    const float* dyc = dy + c * positions;
    if (affine.gamma && affine.per_element) {
      const float* gc = affine.gamma + c * positions;
      double* dgc = dgamma ? dgamma + c * positions : nullptr;
      double* dbc = dbeta ? dbeta + c * positions : nullptr;
      for (std::size_t p = 0; p < positions; ++p) {
        const double xhat = (xc[p] - mean) * inv_std, g = static_cast<double>(dyc[p]) * gc[p];
        sum_g += g;
        sum_g_xhat += g * xhat;
        if (dgc) dgc[p] += dyc[p] * xhat;
        if (dbc) dbc[p] += dyc[p];
      }
    } else {
      double acc_dy = 0.0, acc_dy_xhat = 0.0;
      for (std::size_t p = 0; p < positions; ++p) {
        const double xhat = (xc[p] - mean) * inv_std;
        acc_dy += dyc[p];
        acc_dy_xhat += dyc[p] * xhat;
      }
      const double gamma = affine.gamma ? affine.gamma[c] : 1.0;
      sum_g += gamma * acc_dy;
      sum_g_xhat += gamma * acc_dy_xhat;
      if (dgamma) dgamma[c] += acc_dy_xhat;
      if (dbeta) dbeta[c] += acc_dy;
    }
  }
  // Pass 2: dx = inv_std·ĝ + slope·(x − μ) + offset, the compact formula expanded per element.
  const double mean_g = sum_g / static_cast<double>(count),
               mean_g_xhat = sum_g_xhat / static_cast<double>(count);
  const float slope = static_cast<float>(-inv_std * inv_std * mean_g_xhat);
  const float offset = static_cast<float>(-inv_std * mean_g);
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
