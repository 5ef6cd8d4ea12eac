// Dropout: gradients under a fixed mask, kept fraction within 5 sigma, scaling, exact eval identity, seeding.
#include "nn/dropout.hpp"

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

namespace {
Tensor random_input(const Shape& shape, std::uint64_t seed) {
  core::Rng rng(seed);
  Tensor x = Tensor::from_shape(shape);
  for (auto& v : x) v = rng.normal();
  return x;
}
}  // namespace

TEST_CASE("dropout/gradients", "[nn][dropout]") {
  for (float p : {0.3f, 0.0f})
    for (std::size_t n : {1, 2, 3}) {
      INFO("p " << p << " batch " << n);
      nn::Dropout layer(p);
      test::GradCheckOptions opt;
      opt.before_forward = [&] { layer.reseed(1234); };  // the same mask on every pass
      test::check_layer_gradients(layer, {n, 20}, 110 + n, opt);
    }
}

TEST_CASE("dropout/keeps 1-p of the elements, scaled by 1/(1-p)", "[nn][dropout]") {
  for (float p : {0.1f, 0.5f, 0.8f}) {
    INFO("p " << p);
    nn::Dropout layer(p);
    layer.reseed(7);
    const Tensor x = xt::ones<float>({100, 1000});
    const Tensor& y = layer.forward(x, nn::Mode::Train);
    const float scale = 1.0f / (1.0f - p);
    std::size_t kept = 0;
    for (float v : y) {
      if (v != 0.0f) {
        ++kept;
        REQUIRE(v == scale);
      }
    }
    const double n = static_cast<double>(x.size());
    const double sigma = std::sqrt(p * (1.0 - p) / n);
    CHECK(std::abs(kept / n - (1.0 - p)) <= 5.0 * sigma);
    // Backward multiplies by the same mask.
    const Tensor& dx = layer.backward(x);
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(dx.data()[i] == y.data()[i]);
  }
}

TEST_CASE("dropout/eval mode is the exact identity", "[nn][dropout]") {
  nn::Dropout layer(0.5f);
  const Tensor x = random_input({4, 33}, 3);
  const Tensor& y = layer.forward(x, nn::Mode::Eval);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(y.data()[i] == x.data()[i]);
  const Tensor dy = random_input({4, 33}, 4);
  const Tensor& dx = layer.backward(dy);
  for (std::size_t i = 0; i < dy.size(); ++i) REQUIRE(dx.data()[i] == dy.data()[i]);
}

TEST_CASE("dropout/p = 0 is the identity in training", "[nn][dropout]") {
  nn::Dropout layer(0.0f);
  const Tensor x = random_input({3, 50}, 5);
  const Tensor& y = layer.forward(x, nn::Mode::Train);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(y.data()[i] == x.data()[i]);
}

TEST_CASE("dropout/same seed gives the same mask", "[nn][dropout]") {
  const Tensor x = xt::ones<float>({8, 64});
  nn::Dropout a(0.5f), b(0.5f);
  a.reseed(99);
  b.reseed(99);
  const Tensor ya = a.forward(x, nn::Mode::Train);
  CHECK(b.forward(x, nn::Mode::Train) == ya);
  CHECK_FALSE(a.forward(x, nn::Mode::Train) == ya);  // the next mask is a fresh draw

  // initialize() seeds from the model's generator: same model seed, same masks.
  core::Rng r1(5), r2(5), r3(6);
  nn::Dropout c(0.5f), d(0.5f), e(0.5f);
  c.initialize(r1);
  d.initialize(r2);
  e.initialize(r3);
  const Tensor yc = c.forward(x, nn::Mode::Train);
  CHECK(d.forward(x, nn::Mode::Train) == yc);
  CHECK_FALSE(e.forward(x, nn::Mode::Train) == yc);
}

TEST_CASE("dropout/rejects p outside 0 <= p < 1", "[nn][dropout]") {
  CHECK_THROWS_AS(nn::Dropout(1.0f), Error);
  CHECK_THROWS_WITH(nn::Dropout(-0.1f),
                    Catch::Contains("dropout: p must be in [0, 1)") && Catch::Contains("-0.1"));
  CHECK_THROWS_AS(nn::Dropout(std::numeric_limits<float>::quiet_NaN()), Error);
  CHECK(nn::Dropout(0.25f).describe() == nlohmann::json{{"type", "dropout"}, {"p", 0.25f}});
}
