// window_sums: the AVX-512 loop against the portable one, and the sums over a pooled plane's windows
// against block_run_sums2 over the unpooled plane, bit for bit.
#include "nn/window_sums.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "nn/lane_sum.hpp"
#include "nn/max_pool2d.hpp"

using namespace bnlab;

namespace {

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// Gradients of very different sizes (±1e16 among ones), so that summing in any other order than the one
// documented changes the bits.
float spread_gradient(core::Rng& rng) {
  const float u = rng.uniform(0.0f, 1.0f);
  if (u < 0.05f) return 1e16f;
  if (u < 0.10f) return -1e16f;
  return rng.normal();
}

}  // namespace

TEST_CASE("window_sums/equals the portable loop bit for bit", "[nn][window_sums]") {
  // Lengths around the 8-value loads and 32-lane groups; ±0 and NaN gradients; infinite and NaN inputs
  // where the gradient is zero (adding nothing) and a NaN input where it is not (a NaN sum).
  core::Rng rng(41);
  for (const std::size_t n : {1, 7, 8, 9, 16, 31, 32, 33, 49, 64, 196, 257}) {
    for (const bool with_nan : {false, true}) {
      CAPTURE(n, with_nan);
      std::vector<float> g(n), x(n);
      for (std::size_t q = 0; q < n; ++q) {
        g[q] = spread_gradient(rng);
        x[q] = rng.normal(0.5f, 2.0f);
      }
      if (n > 3) {
        g[1] = 0.0f, x[1] = std::numeric_limits<float>::infinity();
        g[2] = -0.0f, x[2] = std::numeric_limits<float>::quiet_NaN();
      }
      if (with_nan) g[n - 1] = std::numeric_limits<float>::quiet_NaN();
      double fast_g, fast_gx, ref_g, ref_gx;
      nn::window_sums(n, g.data(), x.data(), 0.25f, fast_g, fast_gx);
      nn::window_sums_portable(n, g.data(), x.data(), 0.25f, ref_g, ref_gx);
      CHECK(same_bits(fast_g, ref_g));
      CHECK(same_bits(fast_gx, ref_gx));
      CHECK(std::isnan(ref_gx) == with_nan);  // the zero gradients at ∞ and NaN inputs added nothing
    }
  }
}

TEST_CASE("window_sums/over a pooled plane's windows equal block sums over the unpooled plane",
          "[nn][window_sums]") {
  // What BatchNorm fused with a ReLU and 2×2 pooling relies on: Σ dy and Σ dy·(x − μ) over each unpooled
  // plane (2×2 blocks, block_run_sums2) are the sums over its windows of the gradient each routes and the
  // input at its maximum. Even widths (the windows are the blocks), odd heights (a last block row without
  // windows), a width of 36 (18 windows a row: rows do not line up with the 32 lanes), windows the ReLU
  // blocks, and an infinite input off every window's maximum.
  core::Rng rng(42);
  const float mean = -0.125f;
  for (const Shape& shape :
       {Shape{2, 3, 8, 8}, Shape{2, 3, 7, 14}, Shape{1, 2, 28, 28}, Shape{1, 2, 9, 36}}) {
    CAPTURE(to_string(shape));
    Tensor x(shape);
    for (auto& v : x) v = rng.normal(0.0f, 2.0f);
    const std::size_t H = shape[2], W = shape[3], plane = H * W, planes = shape[0] * shape[1];
    nn::MaxPool2d pool(nn::Extent2(2));
    pool.begin_forward(shape, /*then_relu=*/true, /*keep_window_inputs=*/true);
    // A very negative input loses every window; infinite, it makes 0·∞ in the unpooled sums.
    x.data()[W + 1] = -std::numeric_limits<float>::infinity();
    for (std::size_t q = 0; q < planes; ++q)
      pool.forward_plane(q, x.data() + q * plane, nn::MaxPool2d::AffineRelu{mean, 1.5f, -0.25f});
    Tensor dy(shape_of(pool.output()));
    for (auto& v : dy) v = spread_gradient(rng);

    const std::size_t windows = pool.windows_per_plane();
    std::vector<float> unpooled(plane), routed(windows);
    std::vector<double> scratch(nn::block_run_scratch(H, W));
    std::size_t blocked = 0;
    for (std::size_t q = 0; q < planes; ++q) {
      CAPTURE(q);
      const float* xq = x.data() + q * plane;
      pool.backward_plane(q, dy, unpooled.data());
      double unpooled_g, unpooled_gx;
      nn::block_run_sums2(
          H, W, [&](std::size_t i) { return double(unpooled[i]); },
          [&](std::size_t i) { return nn::dy_xc(unpooled[i], xq[i], mean); }, [](std::size_t) {},
          scratch.data(), unpooled_g, unpooled_gx);
      pool.window_gradients(q, 1, dy, routed.data());
      for (float g : routed) blocked += g == 0.0f;
      double window_g, window_gx;
      nn::window_sums(windows, routed.data(), pool.window_inputs(q), mean, window_g, window_gx);
      CHECK(std::isfinite(unpooled_gx));
      CHECK(same_bits(window_g, unpooled_g));
      CHECK(same_bits(window_gx, unpooled_gx));
    }
    CHECK(blocked > 0);  // the ReLU blocked some windows
  }
}
