// Dense: gradients, shape errors and the forward formula on a hand-computed case.
#include "nn/dense.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("dense/gradients", "[nn][dense]") {
  for (std::size_t n : {1, 2, 5}) {
    CAPTURE(n);
    nn::Dense layer(7, 4);
    test::check_layer_gradients(layer, {n, 7}, 11 + n);
  }
  nn::Dense no_bias(3, 2, false);
  test::check_layer_gradients(no_bias, {3, 3}, 5);
}

TEST_CASE("dense/forward matches x·Wᵀ+b", "[nn][dense]") {
  nn::Dense layer(2, 2);
  layer.weight = {{1.f, 2.f}, {3.f, 4.f}};
  layer.bias = {0.5f, -1.f};
  Tensor x = {{1.f, -1.f}, {2.f, 0.5f}};
  const Tensor& y = layer.forward(x, nn::Mode::Train);
  CHECK(y(0, 0) == Approx(-0.5f));
  CHECK(y(0, 1) == Approx(-2.f));
  CHECK(y(1, 0) == Approx(3.5f));
  CHECK(y(1, 1) == Approx(7.f));
}

TEST_CASE("dense/rejects wrong input shape", "[nn][dense]") {
  nn::Dense layer(4, 2);
  CHECK_THROWS_AS(layer.output_shape({2, 5}), ShapeError);
  CHECK_THROWS_WITH(layer.output_shape({2, 1, 2, 2}), Catch::Contains("flatten"));
}
