// ReLU: gradients away from the kink, exact forward values, NaN passed through with a zero gradient.
#include "nn/relu.hpp"

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("relu/gradients", "[nn][relu]") {
  test::GradCheckOptions opt;
  opt.fill_input = [](Tensor& t, core::Rng& r) { test::fill_away_from_zero(t, r); };
  for (std::size_t n : {1, 2, 3}) {
    nn::ReLU layer;
    test::check_layer_gradients(layer, {n, 3, 4, 4}, n, opt);
  }
}

TEST_CASE("relu/forward", "[nn][relu]") {
  nn::ReLU layer;
  Tensor x = {{-1.f, 0.f, 2.f}};
  const Tensor& y = layer.forward(x, nn::Mode::Eval);
  CHECK(y(0, 0) == 0.f);
  CHECK(y(0, 1) == 0.f);
  CHECK(y(0, 2) == 2.f);
}

TEST_CASE("relu/NaN passes through forward and gets no gradient", "[nn][relu]") {
  // As PyTorch's relu: a NaN activation must stay visible (divergence detection reads it downstream).
  nn::ReLU layer;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = {{nan, -0.f, 3.f, -nan}};
  const Tensor& y = layer.forward(x, nn::Mode::Train);
  CHECK(std::isnan(y(0, 0)));
  CHECK(y(0, 1) == 0.f);
  CHECK_FALSE(std::signbit(y(0, 1)));
  CHECK(y(0, 2) == 3.f);
  CHECK(std::isnan(y(0, 3)));
  Tensor dy = {{1.f, 1.f, 1.f, 1.f}};
  const Tensor& dx = layer.backward(dy);
  CHECK(dx(0, 0) == 0.f);
  CHECK(dx(0, 1) == 0.f);
  CHECK(dx(0, 2) == 1.f);
  CHECK(dx(0, 3) == 0.f);
}
