// LeakyReLU: gradients away from the kink, exact forward values for several slopes.
#include "nn/leaky_relu.hpp"

#include <catch2/catch.hpp>

#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("leaky_relu/gradients", "[nn][leaky_relu]") {
  test::GradCheckOptions opt;
  opt.fill_input = [](Tensor& t, core::Rng& r) { test::fill_away_from_zero(t, r); };
  for (float slope : {0.01f, 0.2f, 0.0f})
    for (std::size_t n : {1, 2, 3}) {
      INFO("slope " << slope << " batch " << n);
      nn::LeakyReLU layer(slope);
      test::check_layer_gradients(layer, {n, 3, 4, 4}, 70 + n, opt);
    }
}

TEST_CASE("leaky_relu/forward and backward values", "[nn][leaky_relu]") {
  nn::LeakyReLU layer;  // default slope 0.01, as PyTorch
  Tensor x = {{-2.f, 0.f, 3.f}};
  const Tensor& y = layer.forward(x, nn::Mode::Train);
  CHECK(y(0, 0) == -0.02f);
  CHECK(y(0, 1) == 0.f);
  CHECK(y(0, 2) == 3.f);
  Tensor dy = {{1.f, 1.f, 1.f}};
  const Tensor& dx = layer.backward(dy);
  CHECK(dx(0, 0) == 0.01f);
  CHECK(dx(0, 1) == 0.01f);  // x = 0 takes the negative side, as PyTorch
  CHECK(dx(0, 2) == 1.f);
  CHECK(layer.describe()["negative_slope"].get<float>() == 0.01f);
}
