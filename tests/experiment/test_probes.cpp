// Probes: statistics of a known layer output, gradient norms, buffer snapshots.
#include "experiment/probes.hpp"

#include <catch2/catch.hpp>

#include "experiment/percentiles.hpp"

#include "nn/batch_norm.hpp"
#include "nn/dense.hpp"
#include "nn/relu.hpp"

using namespace bnlab;
using namespace bnlab::experiment;

TEST_CASE("probes/global gradient norm", "[runner][probes]") {
  Tensor w = {{3.f, 0.f}}, gw = {{3.f, 0.f}}, b = {0.f}, gb = {4.f};
  std::vector<nn::Param> params{{"w", &w, &gw, nn::ParamKind::Weight}, {"b", &b, &gb, nn::ParamKind::Bias}};
  CHECK(global_grad_norm(params) == Approx(5.0));
}

TEST_CASE("probes/layer statistics of a known model", "[runner][probes]") {
  nn::Sequential model({2});
  auto& dense = model.emplace<nn::Dense>(2, 2);
  model.emplace<nn::ReLU>();
  // Identity weights, zero bias: the dense output is the input.
  dense.weight = {{1.f, 0.f}, {0.f, 1.f}};
  dense.bias = {0.f, 0.f};
  Tensor x = {{1.f, -2.f}, {3.f, 4.f}, {5.f, -6.f}, {7.f, 8.f}};
  std::vector<std::int32_t> labels{0, 1, 0, 1};
  nn::SoftmaxCrossEntropy loss;
  LayerProbe probe;
  probe.measure(model, loss, x, labels);
  const auto& s = probe.stats();
  REQUIRE(s.size() == 2);
  CHECK(s[0].layer == "0.dense");
  CHECK(s[0].act_mean == Approx(20.0 / 8));
  std::vector<float> all{1, -2, 3, 4, 5, -6, 7, 8};
  CHECK(s[0].act_p50 == Approx(percentile(all.data(), 8, 0.5)));
  // Unit 0 is feature 0 over the batch: 1, 3, 5, 7.
  CHECK(s[0].unit == 0);
  CHECK(s[0].unit_p50 == Approx(4.0));
  CHECK(s[0].unit_p15 == Approx(1.9));
  CHECK(s[0].has_params);
  CHECK(s[0].weight_norm == Approx(std::sqrt(2.0)));
  CHECK(s[0].grad_norm > 0);
  CHECK_FALSE(s[1].has_params);
  CHECK(s[1].act_p15 == Approx(0.05));  // relu output {1,0,3,4,5,0,7,8}: numpy gives 0.05
  CHECK(probe.correct() <= 4);
}

TEST_CASE("probes/buffer snapshot restores running statistics", "[runner][probes]") {
  nn::Sequential model({3});
  auto& bn = model.emplace<nn::BatchNorm1d>(3, nn::BatchNormOptions{});
  core::Rng rng(1);
  model.initialize(rng);
  Tensor x = {{1.f, 2.f, 3.f}, {4.f, 0.f, -1.f}};
  model.set_mode(nn::Mode::Train);
  model.forward(x);
  const Tensor mean = bn.running_mean, var = bn.running_var, count = bn.num_batches_tracked;
  BufferSnapshot snapshot;
  snapshot.save(model);
  const Tensor scaled = x * 10.f;
  model.forward(scaled);
  // Plain bools: xtensor's comparison operators would capture Catch's expression decomposer.
  const bool moved = bn.running_mean != mean;
  REQUIRE(moved);
  snapshot.restore(model);
  const bool same_mean = bn.running_mean == mean, same_var = bn.running_var == var,
             same_count = bn.num_batches_tracked == count;
  CHECK(same_mean);
  CHECK(same_var);
  CHECK(same_count);
}
