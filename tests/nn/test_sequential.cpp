// Sequential: skipping the model-input gradient leaves every parameter gradient unchanged.
#include "nn/sequential.hpp"

#include <catch2/catch.hpp>

#include "core/rng.hpp"
#include "nn/conv2d.hpp"
#include "nn/dense.hpp"
#include "nn/flatten.hpp"
#include "nn/relu.hpp"

using namespace bnlab;

namespace {

nn::Sequential small_model(bool input_grad_needed, bool set_before_adding) {
  nn::Sequential model({2, 4, 4});
  if (set_before_adding) model.set_input_grad_needed(input_grad_needed);
  model.emplace<nn::Conv2d>(2, 3, 3, 1, 1);
  model.emplace<nn::ReLU>();
  model.emplace<nn::Flatten>();
  model.emplace<nn::Dense>(48, 5);
  if (!set_before_adding) model.set_input_grad_needed(input_grad_needed);
  core::Rng rng(3);
  model.initialize(rng);
  return model;
}

std::vector<Tensor> gradients_after_one_step(nn::Sequential& model) {
  core::Rng rng(9);
  Tensor x = xt::zeros<float>({3, 2, 4, 4}), dy = xt::zeros<float>({3, 5});
  for (auto& v : x) v = rng.normal();
  for (auto& v : dy) v = rng.normal();
  model.zero_grad();
  model.forward(x);
  model.backward(dy);
  std::vector<Tensor> grads;
  for (const auto& p : model.params()) grads.push_back(*p.grad);
  return grads;
}

}  // namespace

TEST_CASE("sequential/the input gradient is computed unless switched off", "[nn][sequential]") {
  nn::Sequential needed = small_model(true, false);
  for (std::size_t i = 0; i < needed.size(); ++i) CHECK(needed.layer(i).input_grad_needed());

  for (bool before : {true, false}) {
    CAPTURE(before);
    nn::Sequential skipped = small_model(false, before);
    // Only the first layer (the first with parameters) may skip: later ones feed gradients to it.
    CHECK_FALSE(skipped.layer(0).input_grad_needed());
    for (std::size_t i = 1; i < skipped.size(); ++i) CHECK(skipped.layer(i).input_grad_needed());

    const auto expected = gradients_after_one_step(needed), got = gradients_after_one_step(skipped);
    REQUIRE(expected.size() == got.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(expected[i] == got[i]);
  }
}

TEST_CASE("sequential/parameter-free layers before the first weights skip their input gradient too",
          "[nn][sequential]") {
  nn::Sequential model({1, 3, 3});
  model.emplace<nn::Flatten>();
  model.emplace<nn::Dense>(9, 4);
  model.emplace<nn::ReLU>();
  model.emplace<nn::Dense>(4, 2);
  model.set_input_grad_needed(false);
  CHECK_FALSE(model.layer(0).input_grad_needed());
  CHECK_FALSE(model.layer(1).input_grad_needed());
  CHECK(model.layer(2).input_grad_needed());
  CHECK(model.layer(3).input_grad_needed());
  model.set_input_grad_needed(true);
  for (std::size_t i = 0; i < model.size(); ++i) CHECK(model.layer(i).input_grad_needed());
}
