// MaxPool2d: gradients on distinct inputs over several windows, hand-computed forwards, argmax routing.
#include "nn/max_pool2d.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "nn/relu.hpp"
#include "support/bit_identical.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("maxpool2d/gradients", "[nn][maxpool2d]") {
  struct Config {
    nn::Extent2 kernel, stride, padding;
    std::size_t h, w;
  };
  const std::vector<Config> configs = {
      {2, 2, 0, 4, 6},                 // the 2×2/stride 2 fast path
      {2, 2, 0, 5, 5},                 // fast path with a dropped last row and column
      {3, 2, 1, 7, 7},                 // padded, overlapping
      {3, 1, 0, 5, 5},                 // overlapping: one input can win several windows
      {{2, 3}, {1, 2}, {1, 1}, 5, 6},  // rectangular, per-axis stride and padding
  };
  test::GradCheckOptions opt;
  opt.fill_input = [](Tensor& t, core::Rng& r) { test::fill_distinct(t, r); };
  for (const auto& c : configs)
    for (std::size_t n : {1, 2, 3}) {
      INFO("kernel " << c.kernel.h << "x" << c.kernel.w << " stride " << c.stride.h << "x" << c.stride.w
                     << " padding " << c.padding.h << "x" << c.padding.w << " batch " << n);
      nn::MaxPool2d pool(c.kernel, c.stride, c.padding);
      test::check_layer_gradients(pool, {n, 2, c.h, c.w}, 30 + n, opt);
    }
}

TEST_CASE("maxpool2d/forward on hand cases", "[nn][maxpool2d]") {
  SECTION("2x2 stride 2") {
    nn::MaxPool2d pool(2);
    Tensor x = Tensor::from_shape({1, 1, 4, 4});
    for (std::size_t i = 0; i < 16; ++i) x.data()[i] = static_cast<float>((i * 7) % 16);
    // rows: 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9
    const Tensor& y = pool.forward(x, nn::Mode::Train);
    REQUIRE(shape_of(y) == Shape{1, 1, 2, 2});
    CHECK(y(0, 0, 0, 0) == 12.f);
    CHECK(y(0, 0, 0, 1) == 14.f);
    CHECK(y(0, 0, 1, 0) == 15.f);
    CHECK(y(0, 0, 1, 1) == 13.f);
  }
  SECTION("padding counts as -inf, not 0") {
    nn::MaxPool2d pool(3, 1, 1);
    Tensor x = {{{{-1.f, -2.f}, {-3.f, -4.f}}}};
    const Tensor& y = pool.forward(x, nn::Mode::Train);
    REQUIRE(shape_of(y) == Shape{1, 1, 2, 2});
    for (std::size_t i = 0; i < 4; ++i) CHECK(y.data()[i] == -1.f);
  }
  SECTION("stride defaults to the kernel; per-axis windows") {
    nn::MaxPool2d pool(nn::Extent2(1, 2));
    Tensor x = {{{{1.f, 5.f, 2.f, 0.f}, {3.f, -1.f, 4.f, 8.f}}}};
    const Tensor& y = pool.forward(x, nn::Mode::Eval);
    REQUIRE(shape_of(y) == Shape{1, 1, 2, 2});
    CHECK(y(0, 0, 0, 0) == 5.f);
    CHECK(y(0, 0, 0, 1) == 2.f);
    CHECK(y(0, 0, 1, 0) == 3.f);
    CHECK(y(0, 0, 1, 1) == 8.f);
  }
  SECTION("NaN propagates as in PyTorch") {
    nn::MaxPool2d pool(2);
    Tensor x = {{{{1.f, std::nanf("")}, {3.f, 2.f}}}};
    CHECK(std::isnan(pool.forward(x, nn::Mode::Train)(0, 0, 0, 0)));
  }
}

TEST_CASE("maxpool2d/backward routes to the argmax and accumulates overlaps", "[nn][maxpool2d]") {
  nn::MaxPool2d pool(2, 1);  // overlapping 2×2 windows on a 3×3 input
  Tensor x = {{{{1.f, 2.f, 1.f}, {2.f, 9.f, 2.f}, {1.f, 2.f, 1.f}}}};
  pool.forward(x, nn::Mode::Train);
  Tensor dy = {{{{1.f, 2.f}, {3.f, 4.f}}}};
  const Tensor& dx = pool.backward(dy);
  for (std::size_t i = 0; i < 9; ++i) CHECK(dx.data()[i] == (i == 4 ? 10.f : 0.f));

  SECTION("ties go to the first maximum") {
    nn::MaxPool2d tie(2);
    Tensor same = xt::ones<float>({1, 1, 2, 2});
    tie.forward(same, nn::Mode::Train);
    Tensor g = Tensor::from_shape({1, 1, 1, 1});
    g.fill(5.f);
    const Tensor& d = tie.backward(g);
    CHECK(d(0, 0, 0, 0) == 5.f);
    CHECK(d(0, 0, 0, 1) == 0.f);
    CHECK(d(0, 0, 1, 0) == 0.f);
    CHECK(d(0, 0, 1, 1) == 0.f);
  }
}

TEST_CASE("maxpool2d/shape errors name the problem", "[nn][maxpool2d]") {
  nn::MaxPool2d pool(3, 2, 1);
  CHECK(pool.output_shape({2, 4, 32, 32}) == Shape{2, 4, 16, 16});
  CHECK_THROWS_WITH(pool.output_shape({2, 16}), Catch::Contains("maxpool2d expects input [N, C, H, W]"));
  CHECK_THROWS_WITH(nn::MaxPool2d(2).output_shape({1, 1, 1, 5}), Catch::Contains("larger than the input"));
  CHECK_THROWS_WITH(nn::MaxPool2d(2, 2, 2), Catch::Contains("at most half the kernel"));
  CHECK_THROWS_AS(nn::MaxPool2d(0), ShapeError);
}

TEST_CASE("maxpool2d/describe lists the window", "[nn][maxpool2d]") {
  const auto d = nn::MaxPool2d(3, 2, 1).describe();
  CHECK(d["type"] == "maxpool2d");
  CHECK(d["kernel"] == nlohmann::json::array({3, 3}));
  CHECK(d["stride"] == nlohmann::json::array({2, 2}));
  CHECK(d["padding"] == nlohmann::json::array({1, 1}));
  CHECK(nn::MaxPool2d(2).describe()["stride"] == nlohmann::json::array({2, 2}));
}

namespace {

// PyTorch's rule written out plainly: scan the window row by row, take a value when it is greater than the
// best so far or is NaN; backward adds dy at the argmax.
void reference_pool_2x2(const Tensor& x, Tensor& y, Tensor& dx, const Tensor& dy) {
  const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const std::size_t OH = H / 2, OW = W / 2;
  y = xt::zeros<float>({N, C, OH, OW});
  dx = xt::zeros<float>({N, C, H, W});
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          std::size_t bh = 2 * oh, bw = 2 * ow;
          for (std::size_t h = 2 * oh; h < 2 * oh + 2; ++h)
            for (std::size_t w = 2 * ow; w < 2 * ow + 2; ++w) {
              const float v = x(n, c, h, w);
              if (v > best || std::isnan(v)) {
                best = v;
                bh = h;
                bw = w;
              }
            }
          y(n, c, oh, ow) = best;
          dx(n, c, bh, bw) += dy(n, c, oh, ow);
        }
}

bool same_floats(const Tensor& a, const Tensor& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const float u = a.data()[i], v = b.data()[i];
    if (!(u == v || (std::isnan(u) && std::isnan(v)))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("maxpool2d/the vectorized 2x2 path equals the plain rule with ties, NaNs and odd sizes",
          "[nn][maxpool2d]") {
  // Widths above and below the vector steps (4 and 8 outputs; 16, with window rows of up to 8 two to a
  // vector, on AVX-512), odd heights and widths (an uncovered last row or column, a last row pair of one),
  // values from a small set so ties are common, and NaNs at every position of a window.
  core::Rng rng(11);
  for (const auto& shape : std::vector<Shape>{{2, 3, 8, 8},
                                              {1, 2, 7, 9},
                                              {3, 1, 5, 17},
                                              {2, 2, 28, 28},
                                              {2, 1, 4, 34},
                                              {1, 2, 14, 14},
                                              {1, 2, 7, 15},
                                              {1, 1, 9, 32},
                                              {1, 1, 6, 66},
                                              {2, 1, 5, 4},
                                              {1, 1, 3, 3}}) {
    CAPTURE(to_string(shape));
    Tensor x(shape), dy(Shape{shape[0], shape[1], shape[2] / 2, shape[3] / 2});
    for (auto& v : x) v = std::round(rng.normal() * 2.0f);
    for (auto& v : dy) v = rng.normal();
    for (std::size_t i = 0; i < x.size(); i += 13) x.data()[i] = std::nanf("");
    Tensor y_ref, dx_ref;
    reference_pool_2x2(x, y_ref, dx_ref, dy);
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      core::set_threads(threads);
      nn::MaxPool2d pool(2);
      const Tensor y = pool.forward(x, nn::Mode::Train);
      const Tensor dx = pool.backward(dy);
      core::set_threads(1);
      CHECK(same_floats(y, y_ref));
      CHECK(same_floats(dx, dx_ref));
    }
  }
}

namespace {
// Pools x plane by plane (forward_plane(pool, q, plane) after begin_forward with then_relu), routes a random
// dy back with backward_plane, and checks both bit for bit against a ReLU layer and a MaxPool2d layer on
// relu_input (x itself, or x mapped as forward_plane maps it).
template <class ForwardPlane>
void check_planes_against_relu_pool(const nn::Window2d& window, const Tensor& x, const Tensor& relu_input,
                                    core::Rng& rng, ForwardPlane forward_plane) {
  nn::ReLU relu;
  nn::MaxPool2d pool_after_relu(window.kernel, window.stride, window.padding);
  const Tensor y_ref = pool_after_relu.forward(relu.forward(relu_input, nn::Mode::Train), nn::Mode::Train);
  Tensor dy(shape_of(y_ref));
  for (auto& v : dy) v = rng.normal();
  const Tensor dx_ref = relu.backward(pool_after_relu.backward(dy));

  const Shape shape = shape_of(x);
  nn::MaxPool2d pool(window.kernel, window.stride, window.padding);
  pool.begin_forward(shape, /*then_relu=*/true, /*keep_window_inputs=*/true);
  const bool two_by_two = window.kernel == nn::Extent2(2) && window.stride == nn::Extent2(2);
  CHECK(pool.keeps_window_inputs() == two_by_two);  // kept for 2×2 windows only
  const std::size_t plane = pool.input_plane_size(), planes = shape[0] * shape[1];
  REQUIRE(plane == 147);  // both callers' 7×21 planes
  for (std::size_t q = 0; q < planes; ++q) forward_plane(pool, q, x.data() + q * plane);
  CHECK(test::bit_identical(pool.output(), y_ref));
  Tensor dx(shape);
  for (std::size_t q = 0; q < planes; ++q) pool.backward_plane(q, dy, dx.data() + q * plane);
  CHECK(test::bit_identical(dx, dx_ref));

  // Window by window: the gradient each window routes is dy where its output passed the ReLU, +0 elsewhere;
  // and (2×2) the input kept is x at the window's maximum of relu_input, found here by the rule the layer
  // documents (the first maximum in reading order, a NaN winning), for blocked windows too.
  const std::size_t windows = pool.windows_per_plane();
  std::vector<float> routed(planes * windows);
  pool.window_gradients(0, planes, dy, routed.data());
  for (std::size_t w = 0; w < planes * windows; ++w) {
    CAPTURE(w);
    const float expected = y_ref.data()[w] > 0.0f ? dy.data()[w] : 0.0f;
    CHECK(std::memcmp(&routed[w], &expected, sizeof expected) == 0);
  }
  if (!two_by_two) return;
  const std::size_t W = shape[3], OW = shape_of(y_ref)[3];
  for (std::size_t q = 0; q < planes; ++q)
    for (std::size_t w = 0; w < windows; ++w) {
      const std::size_t top_left = q * plane + 2 * (w / OW) * W + 2 * (w % OW);
      const std::size_t at[4] = {top_left, top_left + 1, top_left + W, top_left + W + 1};
      std::size_t best = 0;
      for (std::size_t k = 1; k < 4; ++k) {
        const float v = relu_input.data()[at[k]];
        if (v > relu_input.data()[at[best]] || std::isnan(v)) best = k;
      }
      CAPTURE(q, w);
      const float kept = pool.window_inputs(q)[w];
      CHECK(std::memcmp(&kept, &x.data()[at[best]], sizeof kept) == 0);
    }
}
}  // namespace

TEST_CASE("maxpool2d/planes with a ReLU after them equal the ReLU and pooling layers, bit for bit",
          "[nn][maxpool2d]") {
  // forward_plane and backward_plane after begin_forward(then_relu), as a fused Conv2d → ReLU → MaxPool2d
  // uses them, against a ReLU layer followed by this layer: windows with nothing positive, ties, −0 and NaNs,
  // for the 2×2 path (odd plane) and the generic one (overlapping padded windows).
  core::Rng rng(21);
  for (const nn::Window2d window : {nn::Window2d{2, 2, 0}, nn::Window2d{3, 2, 1}}) {
    CAPTURE(window.kernel.h);
    const Shape shape{2, 3, 7, 21};  // 10 windows a row: the 8-wide groups and an overlapping last one
    Tensor x(shape);
    for (auto& v : x) v = std::round(rng.normal() * 2.0f) * 0.5f;
    float* p = x.data();
    for (int i : {0, 1, 9, 10}) p[i] = -1.0f - static_cast<float>(i);
    for (int i : {2, 3, 11}) p[i] = -0.0f;
    p[147 + 4] = std::nanf("");
    p[147 + 21 + 5] = std::nanf("");  // two NaNs in one window: the last wins
    p[294 + 30] = -std::nanf("");
    check_planes_against_relu_pool(
        window, x, x, rng,
        [](nn::MaxPool2d& pool, std::size_t q, const float* plane) { pool.forward_plane(q, plane); });
  }
}

TEST_CASE(
    "maxpool2d/planes pooled through an affine map and a ReLU equal the map, a ReLU and pooling, bit for bit",
    "[nn][maxpool2d]") {
  // forward_plane(AffineRelu) takes the ReLU after the max: the outputs and routed gradients must still be
  // those of mapping every value, a ReLU layer and this layer. A negative scale (the maximum comes from the
  // smallest inputs), a tiny one that rounds distinct inputs to the same value (ties decided after the map),
  // windows with nothing positive, and NaNs; the 2×2 path and the generic one.
  core::Rng rng(22);
  struct Map {
    float center, scale, shift;
  };
  for (const nn::Window2d window : {nn::Window2d{2, 2, 0}, nn::Window2d{3, 2, 1}})
    for (const Map map : {Map{0.25f, 1.5f, -0.5f}, Map{-0.5f, -2.0f, 0.25f}, Map{0.0f, 1e-9f, 1.0f},
                          Map{0.0f, 1e-9f, 0.0f}}) {
      CAPTURE(window.kernel.h, map.scale, map.shift);
      const Shape shape{2, 3, 7, 21};
      Tensor x(shape);
      for (auto& v : x) v = rng.normal() * 2.0f;
      float* p = x.data();
      for (int i : {0, 1, 21, 22}) p[i] = -3.0f - static_cast<float>(i);
      p[147 + 4] = std::nanf("");
      p[294 + 30] = -std::nanf("");

      Tensor mapped(shape);
      // The normalization's own expression (BatchNorm's normalized()), compiled the same way.
      for (std::size_t i = 0; i < x.size(); ++i)
        mapped.data()[i] = (x.data()[i] - map.center) * map.scale + map.shift;
      check_planes_against_relu_pool(
          window, x, mapped, rng, [map](nn::MaxPool2d& pool, std::size_t q, const float* plane) {
            pool.forward_plane(q, plane, nn::MaxPool2d::AffineRelu{map.center, map.scale, map.shift});
          });
    }
}

TEST_CASE("maxpool2d/a plane pooled through a ReLU needs a forward begun with then_relu", "[nn][maxpool2d]") {
  // Without it the argmax carries no ReLU marks, and the backward would route gradient the ReLU blocked.
  nn::MaxPool2d pool(2);
  const Shape shape{1, 1, 4, 4};
  const Tensor x(shape, 1.0f);
  pool.begin_forward(shape);
  CHECK_THROWS_AS(pool.forward_plane(0, x.data(), nn::MaxPool2d::AffineRelu{0.0f, 1.0f, 0.0f}), Error);
  pool.begin_forward(shape, /*then_relu=*/true);
  CHECK_NOTHROW(pool.forward_plane(0, x.data(), nn::MaxPool2d::AffineRelu{0.0f, 1.0f, 0.0f}));
}

TEST_CASE("maxpool2d/backward_plane through a gradient map equals backward_plane and the map, bit for bit",
          "[nn][maxpool2d]") {
  // backward_plane(x, GradAffine), which BatchNorm2d fused with its ReLU and this layer takes its dx from,
  // against unpooling first and mapping each position after: even and odd heights and widths (positions no
  // window covers get the map of +0), windows the ReLU blocked, a zero slope, and an infinite input off
  // every maximum; the 2×2 path (AVX-512 kernel where built with it) and the generic one.
  core::Rng rng(23);
  for (const nn::Window2d window : {nn::Window2d{2, 2, 0}, nn::Window2d{3, 2, 1}})
    for (const Shape& shape : {Shape{2, 3, 7, 21}, Shape{1, 2, 8, 8}, Shape{1, 2, 28, 28}, Shape{1, 1, 9, 14},
                               Shape{1, 2, 14, 36}})
      for (const nn::MaxPool2d::GradAffine after : {nn::MaxPool2d::GradAffine{0.25f, 1.5f, -0.75f, 0.125f},
                                                    nn::MaxPool2d::GradAffine{-1.0f, -2.0f, 0.0f, -0.5f}}) {
        CAPTURE(window.kernel.h, to_string(shape), after.slope);
        Tensor x(shape);
        for (auto& v : x) v = rng.normal(0.0f, 2.0f);
        x.data()[x.size() - 1] = -std::numeric_limits<float>::infinity();
        nn::MaxPool2d pool(window.kernel, window.stride, window.padding);
        pool.begin_forward(shape, /*then_relu=*/true);
        const std::size_t plane = pool.input_plane_size(), planes = shape[0] * shape[1];
        for (std::size_t q = 0; q < planes; ++q) pool.forward_plane(q, x.data() + q * plane);
        Tensor dy(shape_of(pool.output()));
        for (auto& v : dy) v = rng.normal();
        std::vector<float> unpooled(plane), dx(plane);
        for (std::size_t q = 0; q < planes; ++q) {
          const float* xq = x.data() + q * plane;
          pool.backward_plane(q, dy, unpooled.data());
          pool.backward_plane(q, dy, xq, after, dx.data());
          for (std::size_t i = 0; i < plane; ++i) {
            CAPTURE(q, i);
            const float expected = after(unpooled[i], xq[i]);
            CHECK(std::memcmp(&dx[i], &expected, sizeof expected) == 0);
            if (std::isfinite(xq[i]))
              CHECK(dx[i] ==
                    Approx(after.scale * unpooled[i] + after.slope * (xq[i] - after.center) + after.offset)
                        .margin(1e-5));
          }
        }
      }
}
