// End-to-end learning: small networks trained with SGD on a generated, learnable problem reach high accuracy.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "core/rng.hpp"
#include "nn/conv2d.hpp"
#include "nn/dense.hpp"
#include "nn/flatten.hpp"
#include "nn/loss.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "nn/sequential.hpp"
#include "optim/sgd.hpp"

using namespace bnlab;

namespace {

// Class prototypes plus Gaussian noise: each sample is its class's fixed random pattern, scaled by a random
// contrast, plus noise of the same order as the pattern. Learnable, but no single feature gives the class.
struct PrototypeProblem {
  std::size_t classes, features;
  float noise;
  std::vector<float> prototypes;  // classes × features
  core::Rng rng;

  PrototypeProblem(std::size_t classes_, std::size_t features_, float noise_, std::uint64_t seed)
      : classes(classes_), features(features_), noise(noise_), prototypes(classes_ * features_), rng(seed) {
    for (auto& v : prototypes) v = rng.normal();
  }

  void sample(std::size_t n, Tensor& x, std::vector<std::int32_t>& labels) {
    labels.resize(n);
    float* out = x.data();
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t c = rng.below(classes);
      labels[i] = static_cast<std::int32_t>(c);
      const float contrast = rng.uniform(0.5f, 1.5f);
      for (std::size_t f = 0; f < features; ++f)
        out[i * features + f] = contrast * prototypes[c * features + f] + noise * rng.normal();
    }
  }
};

// Trains for `steps` SGD steps on fresh batches and returns the eval-mode accuracy on a held-out batch.
double train_and_evaluate(nn::Sequential& model, PrototypeProblem& problem, const Shape& batch_shape,
                          std::size_t steps, double lr) {
  optim::SgdOptions options;
  options.momentum = 0.9;
  optim::Sgd sgd(model.params(), options);
  nn::SoftmaxCrossEntropy loss;
  Tensor x = Tensor::from_shape(batch_shape);
  std::vector<std::int32_t> labels;
  double first_loss = 0.0, last_loss = 0.0;
  model.set_mode(nn::Mode::Train);
  for (std::size_t step = 0; step < steps; ++step) {
    problem.sample(batch_shape[0], x, labels);
    model.zero_grad();
    const double l = loss.forward(model.forward(x), labels);
    REQUIRE(std::isfinite(l));
    if (step == 0) first_loss = l;
    last_loss = l;
    model.backward(loss.backward());
    sgd.step(lr);
  }
  INFO("loss " << first_loss << " → " << last_loss);
  CHECK(last_loss < 0.5 * first_loss);

  Shape test_shape = batch_shape;
  test_shape[0] = 1000;
  Tensor test_x = Tensor::from_shape(test_shape);
  problem.sample(test_shape[0], test_x, labels);
  model.set_mode(nn::Mode::Eval);
  loss.forward(model.forward(test_x), labels);
  return static_cast<double>(loss.correct()) / static_cast<double>(test_shape[0]);
}

}  // namespace

TEST_CASE("learning/MLP learns noisy class prototypes", "[learning]") {
  PrototypeProblem problem(10, 32, 1.0f, 2024);
  nn::Sequential model({32});
  model.emplace<nn::Dense>(32, 64);
  model.emplace<nn::ReLU>();
  model.emplace<nn::Dense>(64, 10);
  core::Rng init(1);
  model.initialize(init);

  // A freshly initialized model guesses: about 1 in 10.
  Tensor probe = Tensor::from_shape({500, 32});
  std::vector<std::int32_t> labels;
  problem.sample(500, probe, labels);
  nn::SoftmaxCrossEntropy loss;
  loss.forward(model.forward(probe), labels);
  CHECK(loss.correct() < 150);

  const double accuracy = train_and_evaluate(model, problem, {32, 32}, 300, 0.05);
  INFO("MLP test accuracy " << accuracy);
  CHECK(accuracy >= 0.95);
}

TEST_CASE("learning/CNN learns noisy image prototypes", "[learning]") {
  // 1×8×8 images: each class a fixed random picture, seen at a random contrast under pixel noise.
  PrototypeProblem problem(10, 64, 1.0f, 77);
  nn::Sequential model({1, 8, 8});
  model.emplace<nn::Conv2d>(1, 16, 3, 1, 1);
  model.emplace<nn::ReLU>();
  model.emplace<nn::MaxPool2d>(2);
  model.emplace<nn::Flatten>();
  model.emplace<nn::Dense>(16 * 4 * 4, 10);
  core::Rng init(2);
  model.initialize(init);
  const double accuracy = train_and_evaluate(model, problem, {32, 1, 8, 8}, 300, 0.05);
  INFO("CNN test accuracy " << accuracy);
  CHECK(accuracy >= 0.95);
}
