// AvgPool2d: gradients over several windows and hand-computed forwards with count_include_pad.
#include "nn/avg_pool2d.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

TEST_CASE("avgpool2d/gradients", "[nn][avgpool2d]") {
  struct Config {
    nn::Extent2 kernel, stride, padding;
    std::size_t h, w;
  };
  const std::vector<Config> configs = {
      {2, 2, 0, 4, 6},
      {3, 2, 1, 7, 7},
      {3, 1, 0, 5, 5},
      {{2, 3}, {1, 2}, {1, 1}, 5, 6},
  };
  for (const auto& c : configs)
    for (std::size_t n : {1, 2, 3}) {
      INFO("kernel " << c.kernel.h << "x" << c.kernel.w << " stride " << c.stride.h << "x" << c.stride.w
                     << " padding " << c.padding.h << "x" << c.padding.w << " batch " << n);
      nn::AvgPool2d pool(c.kernel, c.stride, c.padding);
      test::check_layer_gradients(pool, {n, 2, c.h, c.w}, 40 + n);
    }
}

TEST_CASE("avgpool2d/forward on hand cases", "[nn][avgpool2d]") {
  SECTION("2x2 stride 2") {
    nn::AvgPool2d pool(2);
    Tensor x = {{{{1.f, 2.f, 3.f, 4.f}, {5.f, 6.f, 7.f, 8.f}}}};
    const Tensor& y = pool.forward(x, nn::Mode::Train);
    REQUIRE(shape_of(y) == Shape{1, 1, 1, 2});
    CHECK(y(0, 0, 0, 0) == Approx(3.5f));
    CHECK(y(0, 0, 0, 1) == Approx(5.5f));
  }
  SECTION("padded zeros count in the divisor") {
    nn::AvgPool2d pool(2, 1, 1);
    Tensor x = {{{{1.f, 2.f}, {3.f, 4.f}}}};
    const Tensor& y = pool.forward(x, nn::Mode::Train);
    REQUIRE(shape_of(y) == Shape{1, 1, 3, 3});
    CHECK(y(0, 0, 0, 0) == Approx(0.25f));
    CHECK(y(0, 0, 0, 1) == Approx(0.75f));
    CHECK(y(0, 0, 0, 2) == Approx(0.5f));
    CHECK(y(0, 0, 1, 1) == Approx(2.5f));
    CHECK(y(0, 0, 2, 2) == Approx(1.0f));
  }
}

TEST_CASE("avgpool2d/shape errors name the problem", "[nn][avgpool2d]") {
  CHECK(nn::AvgPool2d(2).output_shape({3, 4, 9, 8}) == Shape{3, 4, 4, 4});
  CHECK_THROWS_WITH(nn::AvgPool2d(2).output_shape({3, 4, 9}),
                    Catch::Contains("avgpool2d expects input [N, C, H, W]"));
  CHECK_THROWS_WITH(nn::AvgPool2d(3, 1, 2), Catch::Contains("at most half the kernel"));
  CHECK_THROWS_AS(nn::AvgPool2d(2, 0), ShapeError);
}

TEST_CASE("avgpool2d/describe lists the window", "[nn][avgpool2d]") {
  const auto d = nn::AvgPool2d({2, 3}, 1, {1, 0}).describe();
  CHECK(d["type"] == "avgpool2d");
  CHECK(d["kernel"] == nlohmann::json::array({2, 3}));
  CHECK(d["stride"] == nlohmann::json::array({1, 1}));
  CHECK(d["padding"] == nlohmann::json::array({1, 0}));
  CHECK(d["count_include_pad"] == true);
}
