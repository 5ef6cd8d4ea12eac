// Tanh: gradients and values.
#include "nn/tanh.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("tanh/gradients", "[nn][tanh]") {
  for (std::size_t n : {1, 2, 3}) {
    nn::Tanh layer;
    test::check_layer_gradients(layer, {n, 2, 3, 3}, 90 + n);
  }
}

TEST_CASE("tanh/forward and backward values", "[nn][tanh]") {
  nn::Tanh layer;
  Tensor x = {{0.f, 1.f, -30.f}};
  const Tensor& y = layer.forward(x, nn::Mode::Train);
  CHECK(y(0, 0) == 0.f);
  CHECK(y(0, 1) == Approx(std::tanh(1.0)));
  CHECK(y(0, 2) == -1.f);
  Tensor dy = {{2.f, 1.f, 1.f}};
  const Tensor& dx = layer.backward(dy);
  CHECK(dx(0, 0) == 2.f);
  CHECK(dx(0, 1) == Approx(1.0 - std::tanh(1.0) * std::tanh(1.0)));
  CHECK(dx(0, 2) == 0.f);
}
