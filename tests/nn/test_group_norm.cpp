// GroupNorm: PyTorch goldens, gradients at several batch sizes, thread invariance, the divisibility error,
// LN equivalence.
#include "nn/group_norm.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "nn/layer_norm.hpp"
#include "support/bit_identical.hpp"
#include "support/gradient_check.hpp"
#include "support/norm_goldens.hpp"

using namespace bnlab;

TEST_CASE("groupnorm/matches PyTorch goldens", "[nn][groupnorm]") {
  const nlohmann::json& cases = test::golden_cases("groupnorm");
  REQUIRE(cases.size() >= 4);
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.at("name").get<std::string>()) {
      const Shape shape = test::golden_shape(c.at("input_shape"));
      nn::GroupNormOptions options;
      options.eps = c.at("eps").get<double>();
      options.affine = c.at("affine").get<bool>();
      nn::GroupNorm gn(c.at("groups").get<std::size_t>(), shape[1], options);
      if (options.affine) {
        gn.weight = test::golden_tensor(c.at("weight"), {shape[1]});
        gn.bias = test::golden_tensor(c.at("bias"), {shape[1]});
      }
      const auto& s = c.at("train");
      const Tensor x = test::golden_tensor(s.at("input"), shape);
      test::check_matches_golden(gn.forward(x, nn::Mode::Train), s.at("output"), "output");
      const Tensor dx = gn.backward(test::golden_tensor(s.at("grad_output"), shape));
      test::check_matches_golden(dx, s.at("grad_input"), "grad_input");
      if (options.affine) {
        test::check_matches_golden(gn.weight_grad, s.at("grad_weight"), "grad_weight");
        test::check_matches_golden(gn.bias_grad, s.at("grad_bias"), "grad_bias");
      }
      test::check_matches_golden(gn.forward(x, nn::Mode::Eval), s.at("output"), "eval output");
    }
  }
}

TEST_CASE("groupnorm/gradients", "[nn][groupnorm]") {
  nn::GroupNormOptions none;
  none.affine = false;
  for (std::size_t n : {1, 2, 3}) {
    CAPTURE(n);
    nn::GroupNorm image(2, 4);
    test::check_layer_gradients(image, {n, 4, 2, 3}, 50 + n);
    nn::GroupNorm dense(3, 6);
    test::check_layer_gradients(dense, {n, 6}, 60 + n);
    nn::GroupNorm one_group(1, 3);
    test::check_layer_gradients(one_group, {n, 3, 2, 2}, 70 + n);
    nn::GroupNorm plain(2, 4, none);
    test::check_layer_gradients(plain, {n, 4, 2, 2}, 80 + n);
  }
}

TEST_CASE("groupnorm/the same bits on one thread and on two", "[nn][groupnorm]") {
  // Inputs large enough to be split over the pool (samples), images and dense; γ and β not 1 and 0.
  for (const Shape& shape : {Shape{16, 32, 8, 8}, Shape{256, 128}}) {
    CAPTURE(to_string(shape));
    nn::GroupNorm gn(8, shape[1]);
    core::Rng rng(11);
    for (auto& v : gn.weight) v = rng.normal(1.f, 0.5f);
    for (auto& v : gn.bias) v = rng.normal();
    Tensor x = Tensor::from_shape(shape), dy = Tensor::from_shape(shape);
    for (auto& v : x) v = rng.normal(0.5f, 2.f);
    for (auto& v : dy) v = rng.normal();
    Tensor y[2], dx[2], dweight[2], dbias[2];
    for (int threads : {1, 2}) {
      core::set_threads(threads);
      std::fill(gn.weight_grad.begin(), gn.weight_grad.end(), 0.0f);
      std::fill(gn.bias_grad.begin(), gn.bias_grad.end(), 0.0f);
      y[threads - 1] = gn.forward(x, nn::Mode::Train);
      dx[threads - 1] = gn.backward(dy);
      dweight[threads - 1] = gn.weight_grad;
      dbias[threads - 1] = gn.bias_grad;
    }
    core::set_threads(1);
    CHECK(test::bit_identical(y[0], y[1]));
    CHECK(test::bit_identical(dx[0], dx[1]));
    CHECK(test::bit_identical(dweight[0], dweight[1]));
    CHECK(test::bit_identical(dbias[0], dbias[1]));
  }
}

TEST_CASE("groupnorm/groups must divide channels", "[nn][groupnorm]") {
  CHECK_THROWS_AS(nn::GroupNorm(3, 8), ShapeError);
  CHECK_THROWS_WITH(nn::GroupNorm(3, 8), Catch::Contains("3 groups") && Catch::Contains("8 channels"));
  CHECK_THROWS_AS(nn::GroupNorm(0, 8), ShapeError);
  CHECK_NOTHROW(nn::GroupNorm(4, 8));
}

TEST_CASE("groupnorm/one group equals per-channel layernorm", "[nn][groupnorm]") {
  nn::GroupNorm gn(1, 3);
  nn::LayerNormOptions per_channel;
  per_channel.per_channel_affine = true;
  nn::LayerNorm ln({3, 2, 2}, per_channel);
  gn.weight = {0.5f, 1.5f, -1.f};
  gn.bias = {0.1f, 0.f, 2.f};
  ln.weight = gn.weight;
  ln.bias = gn.bias;
  Tensor x = Tensor::from_shape({2, 3, 2, 2});
  core::Rng rng(3);
  for (auto& v : x) v = rng.normal(1.f, 2.f);
  const Tensor a = gn.forward(x, nn::Mode::Train);
  const Tensor b = ln.forward(x, nn::Mode::Train);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a.data()[i] == Approx(b.data()[i]).margin(1e-6));
}

TEST_CASE("groupnorm/shapes, params and description", "[nn][groupnorm]") {
  nn::GroupNorm gn(2, 4);
  CHECK(gn.output_shape({2, 4}) == Shape{2, 4});
  CHECK(gn.output_shape({2, 4, 3, 3}) == Shape{2, 4, 3, 3});
  CHECK_THROWS_WITH(gn.output_shape({2, 5, 3, 3}), Catch::Contains("[2, 5, 3, 3]"));
  auto params = gn.params();
  REQUIRE(params.size() == 2);
  CHECK(params[0].kind == nn::ParamKind::NormScale);
  CHECK(params[1].kind == nn::ParamKind::NormShift);
  CHECK(gn.buffers().empty());
  const auto d = gn.describe();
  CHECK(d.at("type") == "groupnorm");
  CHECK(d.at("groups") == 2);
  CHECK(d.at("channels") == 4);
  CHECK(d.at("affine") == true);
  CHECK(d.at("eps") == Approx(1e-5));
}
