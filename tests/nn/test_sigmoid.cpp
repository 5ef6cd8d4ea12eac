// Sigmoid: gradients and values, including large magnitudes that must not overflow.
#include "nn/sigmoid.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("sigmoid/gradients", "[nn][sigmoid]") {
  for (std::size_t n : {1, 2, 3}) {
    nn::Sigmoid layer;
    test::check_layer_gradients(layer, {n, 7}, 80 + n);
  }
}

TEST_CASE("sigmoid/forward values are finite at large magnitudes", "[nn][sigmoid]") {
  nn::Sigmoid layer;
  Tensor x = {{0.f, 2.f, -2.f, 100.f, -95.f}};
  const Tensor& y = layer.forward(x, nn::Mode::Train);
  CHECK(y(0, 0) == 0.5f);
  CHECK(y(0, 1) == Approx(1.0 / (1.0 + std::exp(-2.0))));
  CHECK(y(0, 2) == Approx(1.0 / (1.0 + std::exp(2.0))));
  CHECK(y(0, 3) == 1.f);
  // e^−95 ≈ 5.5e−42 is a float subnormal; the naive 1/(1 + e^95) overflows to 1/inf = 0.
  CHECK(y(0, 4) > 0.f);
  CHECK(y(0, 4) == Approx(std::exp(-95.0)).epsilon(1e-3));
  Tensor dy = xt::ones<float>({1, 5});
  const Tensor& dx = layer.backward(dy);
  CHECK(dx(0, 0) == 0.25f);
  CHECK(std::isfinite(dx(0, 3)));
  CHECK(std::isfinite(dx(0, 4)));
}
