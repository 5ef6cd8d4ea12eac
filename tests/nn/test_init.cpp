// Initializers: gains, fans, sample moments within statistical bounds, and errors that name the problem.
#include "nn/init.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "nn/dense.hpp"

using namespace bnlab;

namespace {

struct Moments {
  double mean, std, max_abs;
};

Moments moments(const Tensor& t) {
  double sum = 0.0, sq = 0.0, max_abs = 0.0;
  for (float v : t) {
    sum += v;
    sq += static_cast<double>(v) * v;
    max_abs = std::max(max_abs, static_cast<double>(std::abs(v)));
  }
  const double n = static_cast<double>(t.size());
  const double mean = sum / n;
  return {mean, std::sqrt(sq / n - mean * mean), max_abs};
}

// 5-sigma bounds for n samples of a zero-mean distribution with standard deviation s: the sample mean has
// sd s/√n and the sample std about s/√(2n) for a normal (less for a uniform, so the bound holds for both).
void check_moments(const Tensor& t, double expected_std) {
  const Moments m = moments(t);
  const double n = static_cast<double>(t.size());
  INFO("sample mean " << m.mean << " std " << m.std << " expected std " << expected_std);
  CHECK(std::abs(m.mean) <= 5.0 * expected_std / std::sqrt(n));
  CHECK(std::abs(m.std - expected_std) <= 5.0 * expected_std / std::sqrt(2.0 * n));
}

constexpr std::size_t kSamples = 200000;

}  // namespace

TEST_CASE("init/calculate_gain matches torch.nn.init", "[nn][init]") {
  CHECK(nn::calculate_gain(nn::Nonlinearity::Linear) == 1.0f);
  CHECK(nn::calculate_gain(nn::Nonlinearity::Sigmoid) == 1.0f);
  CHECK(nn::calculate_gain(nn::Nonlinearity::Tanh) == Approx(5.0 / 3.0));
  CHECK(nn::calculate_gain(nn::Nonlinearity::ReLU) == Approx(std::sqrt(2.0)));
  CHECK(nn::calculate_gain(nn::Nonlinearity::LeakyReLU) == Approx(std::sqrt(2.0 / (1.0 + 0.01 * 0.01))));
  CHECK(nn::calculate_gain(nn::Nonlinearity::LeakyReLU, 0.2f) == Approx(std::sqrt(2.0 / 1.04)));
}

TEST_CASE("init/fans of dense and conv weights", "[nn][init]") {
  const nn::Fans dense = nn::fans_of({10, 20});
  CHECK(dense.in == 20);
  CHECK(dense.out == 10);
  const nn::Fans conv = nn::fans_of({16, 3, 5, 3});
  CHECK(conv.in == 3 * 15);
  CHECK(conv.out == 16 * 15);
  CHECK_THROWS_AS(nn::fans_of({7}), ShapeError);
  CHECK_THROWS_WITH(nn::fans_of({7}), Catch::Contains("at least 2 dimensions") && Catch::Contains("[7]"));
}

TEST_CASE("init/kaiming normal and uniform have the formula's spread", "[nn][init]") {
  core::Rng rng(42);
  Tensor w = Tensor::from_shape({kSamples});
  const nn::Fans fans{50, 200};
  const float gain = std::sqrt(2.0f);

  nn::kaiming_normal(w, fans, rng, gain);
  check_moments(w, gain / std::sqrt(50.0));
  nn::kaiming_normal(w, fans, rng, gain, nn::FanMode::FanOut);
  check_moments(w, gain / std::sqrt(200.0));

  nn::kaiming_uniform(w, fans, rng, gain);
  const double bound = gain * std::sqrt(3.0 / 50.0);
  check_moments(w, bound / std::sqrt(3.0));
  CHECK(moments(w).max_abs <= bound);
  CHECK(moments(w).max_abs >= 0.999 * bound);
}

TEST_CASE("init/xavier normal and uniform have the formula's spread", "[nn][init]") {
  core::Rng rng(43);
  Tensor w = Tensor::from_shape({kSamples});
  const nn::Fans fans{30, 70};

  nn::xavier_normal(w, fans, rng);
  check_moments(w, std::sqrt(2.0 / 100.0));
  nn::xavier_normal(w, fans, rng, 5.0f / 3.0f);
  check_moments(w, 5.0 / 3.0 * std::sqrt(2.0 / 100.0));

  nn::xavier_uniform(w, fans, rng);
  const double bound = std::sqrt(6.0 / 100.0);
  check_moments(w, bound / std::sqrt(3.0));
  CHECK(moments(w).max_abs <= bound);
  CHECK(moments(w).max_abs >= 0.999 * bound);
}

TEST_CASE("init/normal has the given std", "[nn][init]") {
  core::Rng rng(44);
  Tensor w = Tensor::from_shape({kSamples});
  nn::normal(w, 0.02f, rng);
  check_moments(w, 0.02);
  CHECK_THROWS_WITH(nn::normal(w, -1.0f, rng), Catch::Contains("std must be >= 0"));
}

TEST_CASE("init/zero fans are shape errors that name the fan", "[nn][init]") {
  core::Rng rng(1);
  Tensor w = Tensor::from_shape({0});
  CHECK_THROWS_AS(nn::kaiming_normal(w, {0, 3}, rng, 1.0f), ShapeError);
  CHECK_THROWS_WITH(nn::kaiming_uniform(w, {0, 3}, rng, 1.0f),
                    Catch::Contains("kaiming_uniform: fan_in is 0"));
  CHECK_THROWS_WITH(nn::kaiming_normal(w, {3, 0}, rng, 1.0f, nn::FanMode::FanOut),
                    Catch::Contains("fan_out is 0"));
  CHECK_THROWS_WITH(nn::xavier_uniform(w, {3, 0}, rng), Catch::Contains("xavier_uniform: fan_out is 0"));
  CHECK_THROWS_WITH(nn::xavier_normal(w, {0, 3}, rng), Catch::Contains("xavier_normal: fan_in is 0"));
}

TEST_CASE("init/init_weight uses torch's default gains", "[nn][init]") {
  core::Rng rng(45);
  Tensor w = Tensor::from_shape({kSamples});
  const nn::Fans fans{40, 60};
  nn::InitSpec spec;

  spec.kind = nn::InitKind::KaimingNormal;  // unset nonlinearity: relu gain
  nn::init_weight(w, spec, fans, rng);
  check_moments(w, std::sqrt(2.0 / 40.0));

  spec.kind = nn::InitKind::XavierNormal;  // unset nonlinearity: gain 1
  nn::init_weight(w, spec, fans, rng);
  check_moments(w, std::sqrt(2.0 / 100.0));

  spec.kind = nn::InitKind::KaimingUniform;
  spec.nonlinearity = nn::Nonlinearity::Tanh;
  nn::init_weight(w, spec, fans, rng);
  check_moments(w, 5.0 / 3.0 / std::sqrt(40.0));

  spec.kind = nn::InitKind::Normal;
  spec.std = 0.1f;
  nn::init_weight(w, spec, fans, rng);
  check_moments(w, 0.1);

  spec.kind = nn::InitKind::Default;
  CHECK_THROWS_AS(nn::init_weight(w, spec, fans, rng), Error);
}

TEST_CASE("init/names round-trip and unknown names list the choices", "[nn][init]") {
  for (auto k : {nn::InitKind::Default, nn::InitKind::KaimingNormal, nn::InitKind::KaimingUniform,
                 nn::InitKind::XavierNormal, nn::InitKind::XavierUniform, nn::InitKind::Normal})
    CHECK(nn::init_kind_from_name(nn::name_of(k)) == k);
  for (auto n : {nn::Nonlinearity::Linear, nn::Nonlinearity::Sigmoid, nn::Nonlinearity::Tanh,
                 nn::Nonlinearity::ReLU, nn::Nonlinearity::LeakyReLU})
    CHECK(nn::nonlinearity_from_name(nn::name_of(n)) == n);
  CHECK_THROWS_AS(nn::init_kind_from_name("he_normal"), ConfigError);
  CHECK_THROWS_WITH(nn::init_kind_from_name("he_normal"),
                    Catch::Contains("he_normal") && Catch::Contains("kaiming_normal"));
  CHECK_THROWS_WITH(nn::nonlinearity_from_name("gelu"),
                    Catch::Contains("gelu") && Catch::Contains("leaky_relu"));
}

TEST_CASE("init/describe names the fields of its kind", "[nn][init]") {
  nn::InitSpec spec;
  CHECK(nn::describe(spec) == nlohmann::json{{"kind", "default"}});
  spec.kind = nn::InitKind::KaimingUniform;
  spec.nonlinearity = nn::Nonlinearity::LeakyReLU;
  spec.negative_slope = 0.2f;
  const auto d = nn::describe(spec);
  CHECK(d["nonlinearity"] == "leaky_relu");
  CHECK(d["negative_slope"].get<float>() == 0.2f);
  CHECK(d["mode"] == "fan_in");
  CHECK_FALSE(d.contains("std"));
}

TEST_CASE("init/dense accepts an InitSpec and zeroes its bias", "[nn][init][dense]") {
  nn::Dense dense(400, 500);
  core::Rng rng(46);
  dense.initialize(rng);  // PyTorch default: U(±1/√400) for weight and bias
  check_moments(dense.weight, 0.05 / std::sqrt(3.0));
  CHECK(moments(dense.weight).max_abs <= 0.05);
  CHECK(moments(dense.bias).max_abs <= 0.05);
  CHECK(moments(dense.bias).max_abs > 0.0);
  CHECK_FALSE(dense.describe().contains("init"));

  nn::InitSpec spec;
  spec.kind = nn::InitKind::KaimingNormal;
  dense.set_init(spec);
  dense.initialize(rng);
  check_moments(dense.weight, std::sqrt(2.0 / 400.0));
  CHECK(moments(dense.bias).max_abs == 0.0);
  CHECK(dense.describe()["init"]["kind"] == "kaiming_normal");
}
