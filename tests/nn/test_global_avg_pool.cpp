// GlobalAvgPool: gradients, per-channel means and shape errors.
#include "nn/global_avg_pool.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("global_avg_pool/gradients", "[nn][global_avg_pool]") {
  for (std::size_t n : {1, 2, 5}) {
    nn::GlobalAvgPool pool;
    test::check_layer_gradients(pool, {n, 3, 4, 5}, 50 + n);
  }
}

TEST_CASE("global_avg_pool/forward is the per-channel mean", "[nn][global_avg_pool]") {
  nn::GlobalAvgPool pool;
  Tensor x = {{{{1.f, 2.f}, {3.f, 4.f}}, {{-1.f, -1.f}, {5.f, 1.f}}}};
  const Tensor& y = pool.forward(x, nn::Mode::Train);
  REQUIRE(shape_of(y) == Shape{1, 2});
  CHECK(y(0, 0) == Approx(2.5f));
  CHECK(y(0, 1) == Approx(1.0f));
  Tensor dy = {{4.f, 8.f}};
  const Tensor& dx = pool.backward(dy);
  CHECK(dx(0, 0, 1, 1) == Approx(1.f));
  CHECK(dx(0, 1, 0, 1) == Approx(2.f));
}

TEST_CASE("global_avg_pool/shape errors name the problem", "[nn][global_avg_pool]") {
  nn::GlobalAvgPool pool;
  CHECK(pool.output_shape({7, 16, 8, 8}) == Shape{7, 16});
  CHECK_THROWS_AS(pool.output_shape({7, 16}), ShapeError);
  CHECK_THROWS_WITH(pool.output_shape({7, 16}),
                    Catch::Contains("[N, C, H, W]") && Catch::Contains("[7, 16]"));
}
