// LayerNorm: PyTorch goldens, gradients at several batch sizes, per-sample independence, shapes.
#include "nn/layer_norm.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "support/gradient_check.hpp"
#include "support/norm_goldens.hpp"

using namespace bnlab;

TEST_CASE("layernorm/matches PyTorch goldens", "[nn][layernorm]") {
  const nlohmann::json& cases = test::golden_cases("layernorm");
  REQUIRE(cases.size() >= 4);
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.at("name").get<std::string>()) {
      const Shape shape = test::golden_shape(c.at("input_shape"));
      const std::string affine = c.at("affine").get<std::string>();
      nn::LayerNormOptions options;
      options.eps = c.at("eps").get<double>();
      options.affine = affine != "none";
      options.per_channel_affine = affine == "per_channel";
      nn::LayerNorm ln(Shape(shape.begin() + 1, shape.end()), options);
      if (options.affine) {
        const Shape param_shape =
            options.per_channel_affine ? Shape{shape[1]} : Shape(shape.begin() + 1, shape.end());
        REQUIRE(shape_of(ln.weight) == param_shape);
        ln.weight = test::golden_tensor(c.at("weight"), param_shape);
        ln.bias = test::golden_tensor(c.at("bias"), param_shape);
      }
      const auto& s = c.at("train");
      const Tensor x = test::golden_tensor(s.at("input"), shape);
      test::check_matches_golden(ln.forward(x, nn::Mode::Train), s.at("output"), "output");
      const Tensor dx = ln.backward(test::golden_tensor(s.at("grad_output"), shape));
      test::check_matches_golden(dx, s.at("grad_input"), "grad_input");
      if (options.affine) {
        test::check_matches_golden(ln.weight_grad, s.at("grad_weight"), "grad_weight");
        test::check_matches_golden(ln.bias_grad, s.at("grad_bias"), "grad_bias");
      }
      // No running statistics: eval gives the same output.
      test::check_matches_golden(ln.forward(x, nn::Mode::Eval), s.at("output"), "eval output");
    }
  }
}

TEST_CASE("layernorm/gradients", "[nn][layernorm]") {
  nn::LayerNormOptions per_channel;
  per_channel.per_channel_affine = true;
  nn::LayerNormOptions none;
  none.affine = false;
  for (std::size_t n : {1, 2, 3}) {
    CAPTURE(n);
    nn::LayerNorm dense({6});
    test::check_layer_gradients(dense, {n, 6}, 10 + n);
    nn::LayerNorm image({3, 2, 2});
    test::check_layer_gradients(image, {n, 3, 2, 2}, 20 + n);
    nn::LayerNorm image_per_channel({3, 2, 2}, per_channel);
    test::check_layer_gradients(image_per_channel, {n, 3, 2, 2}, 30 + n);
    nn::LayerNorm plain({3, 2, 2}, none);
    test::check_layer_gradients(plain, {n, 3, 2, 2}, 40 + n);
  }
}

TEST_CASE("layernorm/normalizes each sample on its own", "[nn][layernorm]") {
  nn::LayerNorm ln({4}, {});
  const Tensor batch = {{1.f, 2.f, 3.f, 4.f}, {-10.f, 0.f, 10.f, 40.f}};
  const Tensor y = ln.forward(batch, nn::Mode::Train);
  // Sample 0: mean 2.5, biased variance 1.25.
  for (std::size_t i = 0; i < 4; ++i) CHECK(y(0, i) == Approx((batch(0, i) - 2.5) / std::sqrt(1.25 + 1e-5)));
  const Tensor alone = ln.forward(Tensor{{-10.f, 0.f, 10.f, 40.f}}, nn::Mode::Train);
  for (std::size_t i = 0; i < 4; ++i) CHECK(alone(0, i) == y(1, i));
}

TEST_CASE("layernorm/shapes, params and description", "[nn][layernorm]") {
  nn::LayerNorm ln({3, 4, 4});
  CHECK(ln.output_shape({2, 3, 4, 4}) == Shape{2, 3, 4, 4});
  CHECK_THROWS_AS(ln.output_shape({2, 3, 4, 5}), ShapeError);
  CHECK_THROWS_WITH(ln.output_shape({2, 48}), Catch::Contains("[3, 4, 4]") && Catch::Contains("[2, 48]"));
  CHECK_THROWS_AS(nn::LayerNorm(Shape{}), ShapeError);
  auto params = ln.params();
  REQUIRE(params.size() == 2);
  CHECK(params[0].kind == nn::ParamKind::NormScale);
  CHECK(params[1].kind == nn::ParamKind::NormShift);
  CHECK(shape_of(ln.weight) == Shape{3, 4, 4});
  CHECK(ln.buffers().empty());
  CHECK(ln.describe().at("affine") == "per_element");
  CHECK(ln.describe().at("eps") == Approx(1e-5));

  nn::LayerNormOptions per_channel;
  per_channel.per_channel_affine = true;
  nn::LayerNorm lc({3, 4, 4}, per_channel);
  CHECK(shape_of(lc.weight) == Shape{3});
  CHECK(lc.describe().at("affine") == "per_channel");
}
