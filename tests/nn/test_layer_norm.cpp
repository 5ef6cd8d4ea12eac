// LayerNorm: PyTorch goldens, gradients at several batch sizes, per-sample independence, thread
// invariance, shapes.
#include "nn/layer_norm.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "support/bit_identical.hpp"
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

TEST_CASE("layernorm/the same bits on one thread and on two", "[nn][layernorm]") {
  // Inputs large enough to be split over the pool, with each kind of affine (per element, per channel,
  // none) and dense input; γ and β not 1 and 0.
  struct Case {
    Shape shape;
    bool affine, per_channel;
  };
  for (const Case& c : {Case{{16, 32, 8, 8}, true, false}, Case{{16, 32, 8, 8}, true, true},
                        Case{{16, 32, 8, 8}, false, false}, Case{{128, 256}, true, false}}) {
    CAPTURE(to_string(c.shape), c.affine, c.per_channel);
    nn::LayerNormOptions options;
    options.affine = c.affine;
    options.per_channel_affine = c.per_channel;
    nn::LayerNorm ln(Shape(c.shape.begin() + 1, c.shape.end()), options);
    core::Rng rng(12);
    for (auto& v : ln.weight) v = rng.normal(1.f, 0.5f);
    for (auto& v : ln.bias) v = rng.normal();
    Tensor x = Tensor::from_shape(c.shape), dy = Tensor::from_shape(c.shape);
    for (auto& v : x) v = rng.normal(0.5f, 2.f);
    for (auto& v : dy) v = rng.normal();
    Tensor y[2], dx[2], dweight[2], dbias[2];
    for (int threads : {1, 2}) {
      core::set_threads(threads);
      std::fill(ln.weight_grad.begin(), ln.weight_grad.end(), 0.0f);
      std::fill(ln.bias_grad.begin(), ln.bias_grad.end(), 0.0f);
      y[threads - 1] = ln.forward(x, nn::Mode::Train);
      dx[threads - 1] = ln.backward(dy);
      dweight[threads - 1] = ln.weight_grad;
      dbias[threads - 1] = ln.bias_grad;
    }
    core::set_threads(1);
    CHECK(test::bit_identical(y[0], y[1]));
    CHECK(test::bit_identical(dx[0], dx[1]));
    CHECK(test::bit_identical(dweight[0], dweight[1]));
    CHECK(test::bit_identical(dbias[0], dbias[1]));
  }
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
