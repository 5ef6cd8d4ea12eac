// Softmax cross-entropy: PyTorch goldens, finite differences, huge logits, accuracy count and errors.
#include "nn/loss.hpp"

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "optim/goldens.hpp"

using namespace bnlab;

TEST_CASE("loss/matches PyTorch cross_entropy", "[loss]") {
  const auto& cases = test::optim_goldens().at("cross_entropy");
  REQUIRE(cases.size() >= 4);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    const Shape shape = c.at("shape").get<Shape>();
    const Tensor logits = test::tensor_from_json(c.at("logits"), shape);
    const auto labels = c.at("labels").get<std::vector<std::int32_t>>();
    nn::SoftmaxCrossEntropy loss;
    const double value = loss.forward(logits, labels);
    CHECK(value == Approx(c.at("loss").get<double>()).epsilon(1e-6).margin(1e-7));
    CHECK(loss.correct() == c.at("correct").get<std::size_t>());
    const Tensor& grad = loss.backward();
    REQUIRE(shape_of(grad) == shape);
    const auto expected = c.at("grad").get<std::vector<float>>();
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      CHECK(grad.data()[i] == Approx(expected[i]).epsilon(1e-5).margin(1e-7));
    }
  }
}

TEST_CASE("loss/gradient matches finite differences", "[loss]") {
  core::Rng rng(7);
  for (std::size_t n : {1, 3, 8}) {
    const std::size_t c = 6;
    CAPTURE(n);
    Tensor logits = Tensor::from_shape({n, c});
    for (auto& v : logits) v = 2.0f * rng.normal();
    std::vector<std::int32_t> labels(n);
    for (auto& l : labels) l = static_cast<std::int32_t>(rng.below(c));
    nn::SoftmaxCrossEntropy loss;
    loss.forward(logits, labels);
    const Tensor analytic = loss.backward();
    const float h = 1e-2f;
    for (std::size_t i = 0; i < logits.size(); ++i) {
      const float saved = logits.data()[i];
      logits.data()[i] = saved + h;
      const double up = loss.forward(logits, labels);
      logits.data()[i] = saved - h;
      const double down = loss.forward(logits, labels);
      logits.data()[i] = saved;
      const double numeric = (up - down) / (2.0 * h);
      CAPTURE(i);
      CHECK(analytic.data()[i] == Approx(numeric).epsilon(1e-3).margin(2e-5));
    }
  }
}

TEST_CASE("loss/stable for huge logits", "[loss]") {
  const float big = std::numeric_limits<float>::max() / 4;
  // exp() of any of these overflows float32; a naive softmax gives inf/NaN.
  Tensor logits = {{1e4f, 0.f, -1e4f}, {-big, big, big / 2}, {500.f, 500.f, 500.f}};
  std::vector<std::int32_t> labels = {0, 1, 2};
  nn::SoftmaxCrossEntropy loss;
  const double value = loss.forward(logits, labels);
  // Rows 0 and 1 are certain and right (loss 0); row 2 is uniform (loss log 3).
  CHECK(value == Approx(std::log(3.0) / 3.0).epsilon(1e-6));
  CHECK(loss.correct() == 2);  // row 2 ties; the first maximum (class 0) is the prediction
  const Tensor& grad = loss.backward();
  for (std::size_t i = 0; i < grad.size(); ++i) REQUIRE(std::isfinite(grad.data()[i]));
  CHECK(grad(0, 0) == 0.0f);
  CHECK(grad(2, 0) == Approx(1.0 / 9.0));
  CHECK(grad(2, 2) == Approx(-2.0 / 9.0));

  // Confidently wrong: the loss is the logit gap, not inf.
  Tensor wrong = {{0.f, 1e4f}};
  CHECK(loss.forward(wrong, {0}) == Approx(1e4));
  CHECK(loss.backward()(0, 0) == Approx(-1.0f));
}

TEST_CASE("loss/gradient rows sum to zero and reuse their buffer", "[loss]") {
  core::Rng rng(3);
  Tensor logits = Tensor::from_shape({5, 4});
  for (auto& v : logits) v = rng.normal();
  std::vector<std::int32_t> labels = {0, 1, 2, 3, 0};
  nn::SoftmaxCrossEntropy loss;
  loss.forward(logits, labels);
  const Tensor& first = loss.backward();
  const float* buffer = first.data();
  for (std::size_t i = 0; i < 5; ++i) {
    double row = 0.0;
    for (std::size_t j = 0; j < 4; ++j) row += first(i, j);
    CHECK(std::abs(row) < 1e-7);
  }
  // Same batch shape: the gradient must land in the same buffer (no allocation per step).
  logits(0, 0) += 1.0f;
  loss.forward(logits, labels);
  CHECK(loss.backward().data() == buffer);
}

TEST_CASE("loss/counts correct predictions", "[loss]") {
  Tensor logits = {{0.1f, 0.9f}, {2.f, -1.f}, {0.f, 3.f}, {5.f, 4.f}};
  nn::SoftmaxCrossEntropy loss;
  loss.forward(logits, {1, 0, 0, 1});
  CHECK(loss.correct() == 2);
  loss.forward(logits, {1, 0, 1, 0});
  CHECK(loss.correct() == 4);
}

TEST_CASE("loss/rejects bad labels and shapes", "[loss]") {
  nn::SoftmaxCrossEntropy loss;
  Tensor logits = Tensor::from_shape({2, 3});
  logits.fill(0.0f);
  CHECK_THROWS_AS(loss.forward(logits, {0}), ShapeError);
  CHECK_THROWS_WITH(loss.forward(logits, {0}), Catch::Contains("1 labels for 2 rows"));
  CHECK_THROWS_WITH(loss.forward(logits, {0, 3}), Catch::Contains("label 3 of sample 1"));
  CHECK_THROWS_WITH(loss.forward(logits, {-1, 0}), Catch::Contains("label -1 of sample 0"));
  Tensor flat = Tensor::from_shape({6});
  CHECK_THROWS_AS(loss.forward(flat, {0}), ShapeError);
  nn::SoftmaxCrossEntropy fresh;
  CHECK_THROWS_AS(fresh.backward(), Error);
}
