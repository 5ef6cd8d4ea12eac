// ReLU: gradients away from the kink and exact forward values.
#include "nn/relu.hpp"

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
