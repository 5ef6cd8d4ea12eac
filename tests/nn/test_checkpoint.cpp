// Checkpoints: bit-identical round trip of parameters, buffers and optimizer state; clear errors for a
// mismatched model, a foreign or newer file, truncation and corruption.
#include "nn/checkpoint.hpp"

#include <sstream>

#include <xtensor/xmath.hpp>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "nn/batch_norm.hpp"
#include "nn/conv2d.hpp"
#include "nn/dense.hpp"
#include "nn/flatten.hpp"
#include "nn/loss.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"
#include "support/bit_identical.hpp"

using namespace bnlab;
using test::bit_identical;

namespace {

// Dense → ReLU → Dense on 6 features.
nn::Sequential make_mlp(std::size_t hidden = 5) {
  nn::Sequential m({6});
  m.emplace<nn::Dense>(6, hidden);
  m.emplace<nn::ReLU>();
  m.emplace<nn::Dense>(hidden, 3);
  return m;
}

// Conv → ReLU → Conv on 2×5×5 images.
nn::Sequential make_convnet() {
  nn::Sequential m({2, 5, 5});
  m.emplace<nn::Conv2d>(2, 4, 3, 1, 1);
  m.emplace<nn::ReLU>();
  m.emplace<nn::Conv2d>(4, 3, 3);
  return m;
}

// Conv → BatchNorm2d → ReLU → MaxPool → Flatten → Dense → BatchNorm1d → ReLU → Dense on 2×6×6 images:
// every kind of tensor a checkpoint holds, running statistics and batch counters included.
nn::Sequential make_cnn_with_bn() {
  nn::Sequential m({2, 6, 6});
  m.emplace<nn::Conv2d>(2, 4, 3, 1, 1);
  m.emplace<nn::BatchNorm2d>(4);
  m.emplace<nn::ReLU>();
  m.emplace<nn::MaxPool2d>(2);
  m.emplace<nn::Flatten>();
  m.emplace<nn::Dense>(4 * 3 * 3, 5);
  m.emplace<nn::BatchNorm1d>(5);
  m.emplace<nn::ReLU>();
  m.emplace<nn::Dense>(5, 3);
  return m;
}

Tensor random_input(const Shape& shape, std::uint64_t seed) {
  core::Rng rng(seed);
  Tensor x = Tensor::from_shape(shape);
  for (auto& v : x) v = rng.normal();
  return x;
}

// A few SGD steps on a regression-free objective (L = Σ y·G) so parameters and optimizer state move.
void train_steps(nn::Sequential& model, optim::Optimizer& opt, const Tensor& x, int steps) {
  model.set_mode(nn::Mode::Train);
  for (int s = 0; s < steps; ++s) {
    model.zero_grad();
    const Tensor& y = model.forward(x);
    Tensor g = random_input(shape_of(y), 100 + s);
    model.backward(g);
    opt.step(0.05);
  }
}

std::string save(nn::Sequential& model, optim::Optimizer* opt) {
  std::ostringstream out;
  nn::save_checkpoint(out, model, opt);
  return out.str();
}

void load(const std::string& bytes, nn::Sequential& model, optim::Optimizer* opt) {
  std::istringstream in(bytes);
  nn::load_checkpoint(in, model, opt);
}

std::vector<Tensor> snapshot(nn::Sequential& model) {
  std::vector<Tensor> all;
  for (auto& p : model.params()) all.push_back(*p.value);
  for (auto& b : model.buffers()) all.push_back(*b.value);
  return all;
}

void check_round_trip(nn::Sequential (*make)(), const Shape& input_shape) {
  nn::Sequential a = make(), b = make();
  core::Rng ra(1), rb(2);
  a.initialize(ra);
  b.initialize(rb);
  optim::SgdOptions o;
  o.momentum = 0.9;
  o.weight_decay = 1e-3;
  optim::Sgd sgd_a(a.params(), o), sgd_b(b.params(), o);
  const Tensor x = random_input(input_shape, 7);
  train_steps(a, sgd_a, x, 3);

  load(save(a, &sgd_a), b, &sgd_b);

  auto pa = a.params(), pb = b.params();
  for (std::size_t k = 0; k < pa.size(); ++k) {
    CAPTURE(pa[k].name);
    CHECK(bit_identical(*pa[k].value, *pb[k].value));
  }
  auto ba = a.buffers(), bb = b.buffers();
  REQUIRE(ba.size() == bb.size());
  // Training moved the running statistics, so matching buffers were really loaded, not left at their init.
  for (auto& buf : ba)
    if (buf.name.find("running_mean") != std::string::npos) CHECK(xt::amax(xt::abs(*buf.value))() > 0.0f);
  for (std::size_t k = 0; k < ba.size(); ++k) {
    CAPTURE(ba[k].name);
    CHECK(bit_identical(*ba[k].value, *bb[k].value));
  }
  auto sa = sgd_a.state(), sb = sgd_b.state();
  for (std::size_t k = 0; k < sa.size(); ++k) {
    CAPTURE(sa[k].name);
    CHECK(bit_identical(*sa[k].value, *sb[k].value));
  }
  a.set_mode(nn::Mode::Eval);
  b.set_mode(nn::Mode::Eval);
  const Tensor ya = a.forward(x);
  CHECK(bit_identical(ya, b.forward(x)));

  // Restored optimizer state: training on continues in lockstep.
  train_steps(a, sgd_a, x, 2);
  train_steps(b, sgd_b, x, 2);
  pa = a.params();
  pb = b.params();
  for (std::size_t k = 0; k < pa.size(); ++k) {
    CAPTURE(pa[k].name);
    CHECK(bit_identical(*pa[k].value, *pb[k].value));
  }
}

}  // namespace

TEST_CASE("checkpoint/round trip is bit-identical", "[checkpoint]") {
  SECTION("dense") {
    check_round_trip([] { return make_mlp(); }, {4, 6});
  }
  SECTION("conv") {
    check_round_trip(make_convnet, {3, 2, 5, 5});
  }
  SECTION("conv, batch norm, pooling and dense") {
    check_round_trip(make_cnn_with_bn, {4, 2, 6, 6});
  }
}

TEST_CASE("checkpoint/Adam state round trip", "[checkpoint]") {
  nn::Sequential a = make_mlp(), b = make_mlp();
  core::Rng ra(3), rb(4);
  a.initialize(ra);
  b.initialize(rb);
  optim::AdamOptions o;
  o.decoupled_weight_decay = true;
  o.weight_decay = 0.01;
  optim::Adam adam_a(a.params(), o), adam_b(b.params(), o);
  const Tensor x = random_input({5, 6}, 9);
  train_steps(a, adam_a, x, 3);
  load(save(a, &adam_a), b, &adam_b);
  CHECK(adam_b.state().front().value->data()[0] == 3.0f);  // the step counter drives bias correction
  train_steps(a, adam_a, x, 2);
  train_steps(b, adam_b, x, 2);
  auto pa = a.params(), pb = b.params();
  for (std::size_t k = 0; k < pa.size(); ++k) CHECK(bit_identical(*pa[k].value, *pb[k].value));
}

TEST_CASE("checkpoint/loads weights without optimizer state", "[checkpoint]") {
  nn::Sequential a = make_mlp(), b = make_mlp();
  core::Rng ra(5), rb(6);
  a.initialize(ra);
  b.initialize(rb);
  optim::SgdOptions o;
  o.momentum = 0.5;
  optim::Sgd sgd(a.params(), o);
  train_steps(a, sgd, random_input({2, 6}, 1), 1);
  load(save(a, &sgd), b, nullptr);  // evaluation only: optimizer state is skipped
  CHECK(bit_identical(*a.params()[0].value, *b.params()[0].value));

  optim::Sgd sgd_b(b.params(), o);
  CHECK_THROWS_WITH(load(save(a, nullptr), b, &sgd_b), Catch::Contains("no optimizer state"));
  optim::Adam adam_b(b.params(), {});
  CHECK_THROWS_WITH(load(save(a, &sgd), b, &adam_b), Catch::Contains("sgd") && Catch::Contains("adam"));
}

TEST_CASE("checkpoint/mismatched model names the tensor and shapes", "[checkpoint]") {
  nn::Sequential a = make_mlp(5), b = make_mlp(7);
  core::Rng rng(1);
  a.initialize(rng);
  const std::string bytes = save(a, nullptr);
  try {
    load(bytes, b, nullptr);
    FAIL("loading into a wider model did not throw");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg,
               Catch::Contains("0.dense.weight") && Catch::Contains("[5, 6]") && Catch::Contains("[7, 6]"));
  }

  // Same tensors, one more parameterless layer: the layer list gives it away.
  nn::Sequential longer = make_mlp(5);
  longer.emplace<nn::ReLU>();
  CHECK_THROWS_WITH(load(bytes, longer, nullptr), Catch::Contains("layers"));

  // Batch-norm parameters and buffers are checked like any other tensor.
  nn::Sequential with_affine = make_cnn_with_bn();
  with_affine.initialize(rng);
  nn::Sequential without_affine({2, 6, 6});
  without_affine.emplace<nn::Conv2d>(2, 4, 3, 1, 1);
  without_affine.emplace<nn::BatchNorm2d>(4, nn::BatchNormOptions{1e-5, 0.1, false, true});
  CHECK_THROWS_WITH(load(save(with_affine, nullptr), without_affine, nullptr),
                    Catch::Contains("1.batchnorm2d"));

  // A different architecture altogether.
  nn::Sequential conv = make_convnet();
  CHECK_THROWS_AS(load(bytes, conv, nullptr), Error);
}

TEST_CASE("checkpoint/rejects foreign, newer, truncated and corrupt files", "[checkpoint]") {
  nn::Sequential a = make_mlp(), b = make_mlp();
  core::Rng ra(1), rb(2);
  a.initialize(ra);
  b.initialize(rb);
  const std::vector<Tensor> before = snapshot(b);
  auto unchanged = [&] {
    const auto now = snapshot(b);
    for (std::size_t k = 0; k < now.size(); ++k)
      if (!bit_identical(now[k], before[k])) return false;
    return true;
  };
  const std::string bytes = save(a, nullptr);

  CHECK_THROWS_WITH(load("PK\x03\x04 not a checkpoint at all", b, nullptr),
                    Catch::Contains("not a bnlab checkpoint"));
  CHECK_THROWS_WITH(load("", b, nullptr), Catch::Contains("not a bnlab checkpoint"));

  std::string newer = bytes;
  newer[8] = 7;  // version field, little-endian uint32 after the 8-byte signature
  CHECK_THROWS_WITH(load(newer, b, nullptr), Catch::Contains("version 7"));

  for (std::size_t cut : {9ul, 14ul, 40ul, bytes.size() / 2, bytes.size() - 10, bytes.size() - 1}) {
    CAPTURE(cut);
    CHECK_THROWS_WITH(load(bytes.substr(0, cut), b, nullptr), Catch::Contains("truncated"));
  }

  std::string flipped = bytes;
  flipped[bytes.size() - 20] ^= 0x10;  // a bit inside the last tensor's data
  CHECK_THROWS_WITH(load(flipped, b, nullptr), Catch::Contains("checksum"));

  CHECK(unchanged());  // a failed load leaves the model as it was
  load(bytes, b, nullptr);
  CHECK_FALSE(unchanged());
}
