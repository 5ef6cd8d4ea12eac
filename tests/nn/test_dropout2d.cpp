// Dropout2d: whole channels dropped per sample, channel fraction within 5 sigma, eval identity, gradients.
#include "nn/dropout2d.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("dropout2d/gradients", "[nn][dropout2d]") {
  for (std::size_t n : {1, 2, 3}) {
    nn::Dropout2d layer(0.4f);
    test::GradCheckOptions opt;
    opt.before_forward = [&] { layer.reseed(4321); };
    test::check_layer_gradients(layer, {n, 6, 3, 2}, 120 + n, opt);
  }
}

TEST_CASE("dropout2d/drops whole channels per sample", "[nn][dropout2d]") {
  const float p = 0.3f;
  nn::Dropout2d layer(p);
  layer.reseed(11);
  const std::size_t N = 20, C = 1000, area = 6;
  Tensor x = Tensor::from_shape({N, C, 2, 3});
  core::Rng rng(1);
  for (auto& v : x) v = 1.0f + rng.uniform();  // never 0, so a zero means dropped
  const Tensor& y = layer.forward(x, nn::Mode::Train);
  const float scale = 1.0f / (1.0f - p);
  std::size_t dropped = 0;
  bool first_sample_pattern_differs = false;
  for (std::size_t plane = 0; plane < N * C; ++plane) {
    const float* in = x.data() + plane * area;
    const float* out = y.data() + plane * area;
    const bool is_dropped = out[0] == 0.0f;
    dropped += is_dropped;
    for (std::size_t i = 0; i < area; ++i) REQUIRE(out[i] == (is_dropped ? 0.0f : in[i] * scale));
    // Masks are per (sample, channel), not shared across the batch.
    if (plane >= C && is_dropped != (y.data()[(plane % C) * area] == 0.0f))
      first_sample_pattern_differs = true;
  }
  CHECK(first_sample_pattern_differs);
  const double n = static_cast<double>(N * C);
  CHECK(std::abs(dropped / n - p) <= 5.0 * std::sqrt(p * (1.0 - p) / n));
}

TEST_CASE("dropout2d/eval mode and p = 0 are the exact identity", "[nn][dropout2d]") {
  Tensor x = Tensor::from_shape({2, 3, 4, 4});
  core::Rng rng(2);
  for (auto& v : x) v = rng.normal();
  nn::Dropout2d layer(0.5f);
  const Tensor& y = layer.forward(x, nn::Mode::Eval);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(y.data()[i] == x.data()[i]);
  const Tensor& dx = layer.backward(x);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(dx.data()[i] == x.data()[i]);
  nn::Dropout2d none(0.0f);
  const Tensor& y0 = none.forward(x, nn::Mode::Train);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(y0.data()[i] == x.data()[i]);
}

TEST_CASE("dropout2d/shape and rate errors name the problem", "[nn][dropout2d]") {
  nn::Dropout2d layer(0.2f);
  CHECK(layer.output_shape({2, 3, 4, 5}) == Shape{2, 3, 4, 5});
  CHECK_THROWS_WITH(layer.output_shape({2, 30}), Catch::Contains("dropout2d expects input [N, C, H, W]"));
  CHECK_THROWS_WITH(nn::Dropout2d(1.5f), Catch::Contains("dropout2d: p must be in [0, 1)"));
  CHECK(layer.describe()["type"] == "dropout2d");
}
