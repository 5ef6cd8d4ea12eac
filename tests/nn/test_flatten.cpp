// Flatten: gradients, row-major order and shape handling.
#include "nn/flatten.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("flatten/gradients", "[nn][flatten]") {
  for (std::size_t n : {1, 2, 3}) {
    nn::Flatten flatten;
    test::check_layer_gradients(flatten, {n, 2, 3, 4}, 60 + n);
  }
}

TEST_CASE("flatten/keeps row-major order and restores the input shape", "[nn][flatten]") {
  nn::Flatten flatten;
  Tensor x = Tensor::from_shape({2, 2, 3});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i);
  const Tensor& y = flatten.forward(x, nn::Mode::Train);
  REQUIRE(shape_of(y) == Shape{2, 6});
  CHECK(y(0, 4) == x(0, 1, 1));
  CHECK(y(1, 5) == x(1, 1, 2));
  const Tensor& dx = flatten.backward(y);
  REQUIRE(shape_of(dx) == Shape{2, 2, 3});
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(dx.data()[i] == x.data()[i]);
}

TEST_CASE("flatten/shapes", "[nn][flatten]") {
  nn::Flatten flatten;
  CHECK(flatten.output_shape({4, 3, 32, 32}) == Shape{4, 3072});
  CHECK(flatten.output_shape({4, 10}) == Shape{4, 10});
  CHECK_THROWS_AS(flatten.output_shape({4}), ShapeError);
  CHECK(flatten.describe()["type"] == "flatten");
}
