// Sequential: skipping the model-input gradient leaves every parameter gradient unchanged; fused groups
// (BatchNorm → ReLU, ReLU → MaxPool2d, Conv2d → ReLU, and the conv blocks) give the same numbers as their
// layers.
#include "nn/sequential.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "nn/batch_norm.hpp"
#include "nn/conv2d.hpp"
#include "nn/dense.hpp"
#include "nn/flatten.hpp"
#include "nn/group_norm.hpp"
#include "nn/layer_norm.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "support/bit_identical.hpp"

using namespace bnlab;

namespace {

// Every parameter gradient and buffer (running statistics) of two models of the same layers, bit for bit.
void check_same_gradients_and_buffers(nn::Sequential& fused, nn::Sequential& kept) {
  const auto pf = fused.params(), pk = kept.params();
  REQUIRE(pf.size() == pk.size());
  for (std::size_t i = 0; i < pf.size(); ++i) {
    CAPTURE(pf[i].name);
    CHECK(test::bit_identical(*pf[i].grad, *pk[i].grad));
  }
  const auto bf = fused.buffers(), bk = kept.buffers();
  REQUIRE(bf.size() == bk.size());
  for (std::size_t i = 0; i < bf.size(); ++i) CHECK(test::bit_identical(*bf[i].value, *bk[i].value));
}

// Step `step` of a fused-against-kept comparison: train mode for the first two steps, eval after, gradients
// zeroed, and a fresh N(0, 1) input and dL/d(output).
void begin_step(int step, nn::Sequential& fused, nn::Sequential& kept, Tensor& x, Tensor& dy,
                core::Rng& rng) {
  for (nn::Sequential* m : {&fused, &kept}) {
    m->set_mode(step < 2 ? nn::Mode::Train : nn::Mode::Eval);
    m->zero_grad();
  }
  for (auto& v : x) v = rng.normal();
  for (auto& v : dy) v = rng.normal();
}

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

TEST_CASE("sequential/a BatchNorm followed by a ReLU runs fused with the same results", "[nn][sequential]") {
  // conv → bn2d → relu → flatten → dense → bn1d → relu → dense: two fusable pairs.
  auto build = [] {
    nn::Sequential model({2, 6, 6});
    model.emplace<nn::Conv2d>(2, 4, 3, 1, 1);
    model.emplace<nn::BatchNorm2d>(4);
    model.emplace<nn::ReLU>();
    model.emplace<nn::Flatten>();
    model.emplace<nn::Dense>(144, 8);
    model.emplace<nn::BatchNorm1d>(8);
    model.emplace<nn::ReLU>();
    model.emplace<nn::Dense>(8, 3);
    core::Rng rng(4);
    model.initialize(rng);
    return model;
  };
  nn::Sequential fused = build(), kept = build();
  kept.set_keep_layer_outputs(true);
  CHECK_FALSE(fused.keep_layer_outputs());
  core::Rng rng(8);
  Tensor x = Tensor::from_shape({5, 2, 6, 6}), dy = Tensor::from_shape({5, 3});
  for (int step = 0; step < 2; ++step) {
    for (auto& v : x) v = rng.normal();
    for (auto& v : dy) v = rng.normal();
    for (nn::Sequential* m : {&fused, &kept}) m->zero_grad();
    const Tensor out_fused = fused.forward(x), out_kept = kept.forward(x);
    CHECK(test::bit_identical(out_fused, out_kept));
    CHECK(
        test::bit_identical(fused.layer_output(2), kept.layer_output(2)));  // the ReLU's output, fused or not
    CHECK(test::bit_identical(fused.layer_output(6), kept.layer_output(6)));
    CHECK_THROWS_WITH(fused.layer_output(1),
                      Catch::Contains("1.batchnorm2d") && Catch::Contains("set_keep_layer_outputs(true)"));
    CHECK_THROWS_AS(fused.layer_output(5), Error);
    CHECK_NOTHROW(kept.layer_output(1));
    CHECK(test::bit_identical(fused.backward(dy), kept.backward(dy)));
    check_same_gradients_and_buffers(fused, kept);
  }
  // Switching fusion off between steps keeps every layer's output from the next forward on.
  fused.set_keep_layer_outputs(true);
  fused.forward(x);
  kept.forward(x);
  CHECK(test::bit_identical(fused.layer_output(1), kept.layer_output(1)));
  fused.set_mode(nn::Mode::Eval);
  fused.set_keep_layer_outputs(false);
  kept.set_mode(nn::Mode::Eval);
  CHECK(test::bit_identical(fused.forward(x), kept.forward(x)));
}

TEST_CASE("sequential/a ReLU followed by max pooling runs pooled first with the same results",
          "[nn][sequential]") {
  // 2×2 windows on an odd plane (a last row and column no window covers), and overlapping padded windows.
  for (const nn::Window2d window : {nn::Window2d{2, 2, 0}, nn::Window2d{3, 2, 1}}) {
    CAPTURE(window.kernel.h, window.stride.h, window.padding.h);
    auto build = [&] {
      nn::Sequential model({3, 7, 7});
      model.emplace<nn::ReLU>();
      model.emplace<nn::MaxPool2d>(window.kernel, window.stride, window.padding);
      return model;
    };
    nn::Sequential fused = build(), kept = build();
    kept.set_keep_layer_outputs(true);
    core::Rng rng(12);
    Tensor x = Tensor::from_shape({4, 3, 7, 7});
    for (auto& v : x) v = rng.normal();
    // Windows with nothing positive, ties (positive and zero), −0 and NaN: where max and ReLU could disagree.
    float* p = x.data();
    for (int i : {0, 1, 7, 8}) p[i] = -1.0f - static_cast<float>(i);
    for (int i : {2, 3, 9, 10}) p[i] = 0.5f;
    for (int i : {4, 5, 11}) p[i] = -0.0f;
    p[12] = 0.0f;
    p[49 + 2] = std::nanf("");
    p[98 + 20] = -std::nanf("");
    const Tensor out_fused = fused.forward(x), out_kept = kept.forward(x);
    CHECK(test::bit_identical(out_fused, out_kept));
    CHECK(test::bit_identical(fused.layer_output(1), kept.layer_output(1)));
    CHECK_THROWS_WITH(fused.layer_output(0), Catch::Contains("0.relu") && Catch::Contains("1.maxpool2d"));
    Tensor dy = Tensor::from_shape(shape_of(out_kept));
    for (auto& v : dy) v = rng.normal();
    CHECK(test::bit_identical(fused.backward(dy), kept.backward(dy)));
  }
}

TEST_CASE(
    "sequential/conv blocks with and without BatchNorm, GroupNorm or LayerNorm fuse to the same gradients",
    "[nn][sequential]") {
  // conv → relu → pool (each sample's conv output pooled as it is made, the ReLU on the pooled values),
  // conv → bn2d → relu → pool (the last three in one) and conv → groupnorm or layernorm (each kind of
  // affine) → relu → pool (all four sample by sample), on 1 and 2 threads (the fused BatchNorm pools from
  // per-thread scratch; the larger case is split over the threads), with 2×2 windows and with overlapping
  // padded ones on odd planes; and the same blocks without the pooling (conv → relu, conv → bn2d → relu,
  // conv → groupnorm or layernorm → relu); train steps, then eval.
  struct Case {
    nn::Window2d window;
    std::size_t side, batch;
  };
  for (const Case k : {Case{{2, 2, 0}, 16, 16}, Case{{3, 2, 1}, 7, 5}, Case{{2, 2, 0}, 9, 3}})
    for (const bool pooled : {true, false})
      for (const std::string norm : {"none", "batch", "group", "group without affine", "layer",
                                     "layer per channel", "layer without affine"})
        for (const int threads : {1, 2}) {
          if (!pooled && k.window.kernel.h != 2) continue;  // the window matters only with the pooling
          CAPTURE(k.window.kernel.h, k.side, pooled, norm, threads);
          const nn::Window2d w = k.window;
          const bool batch_norm = norm == "batch";
          // A norm by each sample's own statistics: the whole block runs sample by sample.
          const bool sample_norm = norm.rfind("group", 0) == 0 || norm.rfind("layer", 0) == 0;
          auto build = [&] {
            nn::Sequential model({2, k.side, k.side});
            model.emplace<nn::Conv2d>(2, 8, 3, 1, 1);
            if (batch_norm) model.emplace<nn::BatchNorm2d>(8);
            Tensor *gamma = nullptr, *beta = nullptr;
            if (norm.rfind("group", 0) == 0) {
              nn::GroupNormOptions options;
              options.affine = norm == "group";
              auto& gn = model.emplace<nn::GroupNorm>(4, 8, options);
              gamma = &gn.weight, beta = &gn.bias;
            }
            if (norm.rfind("layer", 0) == 0) {
              nn::LayerNormOptions options;
              options.affine = norm != "layer without affine";
              options.per_channel_affine = norm == "layer per channel";
              auto& ln = model.emplace<nn::LayerNorm>(Shape{8, k.side, k.side}, options);
              gamma = &ln.weight, beta = &ln.bias;
            }
            model.emplace<nn::ReLU>();
            Shape features{1, 8, k.side, k.side};
            if (pooled)
              features = model.emplace<nn::MaxPool2d>(w.kernel, w.stride, w.padding).output_shape(features);
            model.emplace<nn::Flatten>();
            model.emplace<nn::Dense>(8 * features[2] * features[3], 3);
            core::Rng rng(5);
            model.initialize(rng);
            // γ and β not 1 and 0 (negative γ too), so the fused affine is exercised.
            if (gamma)
              for (std::size_t c = 0; c < gamma->size(); ++c) {
                gamma->data()[c] = rng.normal(0.5f, 1.f);
                beta->data()[c] = rng.normal(0.f, 0.5f);
              }
            return model;
          };
          nn::Sequential fused = build(), kept = build();
          kept.set_keep_layer_outputs(true);
          core::Rng rng(6);
          Tensor x = Tensor::from_shape({k.batch, 2, k.side, k.side}), dy = Tensor::from_shape({k.batch, 3});
          for (int step = 0; step < 3; ++step) {
            begin_step(step, fused, kept, x, dy, rng);
            // Both on the same threads: Conv2d's weight gradient sums its workers' parts, so it depends on
            // the thread count (to rounding) fused or not.
            core::set_threads(threads);
            const Tensor out_fused = fused.forward(x);
            CHECK(test::bit_identical(out_fused, kept.forward(x)));
            const bool normed = batch_norm || sample_norm;
            // The block's output: the pooling's, or without one the ReLU's.
            const std::size_t block_out = (normed ? 2 : 1) + (pooled ? 1 : 0);
            CHECK(test::bit_identical(fused.layer_output(block_out), kept.layer_output(block_out)));
            // The norm's, or the ReLU's before the pool.
            if (normed || pooled) CHECK_THROWS_AS(fused.layer_output(1), Error);
            // Without a norm the convolution's output is pooled or rectified sample by sample and never
            // kept apart; a norm's backward needs it.
            if (!normed) CHECK_THROWS_WITH(fused.layer_output(0), Catch::Contains("0.conv2d"));
            if (normed) {
              // (A BatchNorm in eval mode pools each sample's output as it is made, so it keeps none.)
              if (sample_norm || !pooled)
                CHECK(test::bit_identical(fused.layer_output(0), kept.layer_output(0)));
              if (pooled)
                CHECK_THROWS_WITH(fused.layer_output(2),
                                  Catch::Contains("2.relu") && Catch::Contains("3.maxpool2d"));
              else
                CHECK_THROWS_WITH(fused.layer_output(1), Catch::Contains("2.relu"));
            }
            CHECK(test::bit_identical(fused.backward(dy), kept.backward(dy)));
            check_same_gradients_and_buffers(fused, kept);
            core::set_threads(1);
          }
        }
}

TEST_CASE("sequential/a Conv2d followed by a ReLU runs fused with the same results", "[nn][sequential]") {
  // conv → relu twice without pooling (a plain model's first blocks), with and without the input gradient,
  // on 1 and 2 threads, train steps then eval; a NaN input stays NaN through both.
  for (const bool input_grad : {true, false})
    for (const int threads : {1, 2}) {
      CAPTURE(input_grad, threads);
      auto build = [&] {
        nn::Sequential model({2, 9, 9});
        model.emplace<nn::Conv2d>(2, 6, 3, 1, 1);
        model.emplace<nn::ReLU>();
        model.emplace<nn::Conv2d>(6, 4, 3, 1, 0);
        model.emplace<nn::ReLU>();
        model.emplace<nn::Flatten>();
        model.emplace<nn::Dense>(4 * 7 * 7, 3);
        model.set_input_grad_needed(input_grad);
        core::Rng rng(5);
        model.initialize(rng);
        return model;
      };
      nn::Sequential fused = build(), kept = build();
      kept.set_keep_layer_outputs(true);
      core::Rng rng(6);
      Tensor x = Tensor::from_shape({12, 2, 9, 9}), dy = Tensor::from_shape({12, 3});
      for (int step = 0; step < 3; ++step) {
        begin_step(step, fused, kept, x, dy, rng);
        if (step == 1) x.data()[5] = std::nanf("");
        core::set_threads(threads);
        CHECK(test::bit_identical(fused.forward(x), kept.forward(x)));
        for (std::size_t relu_at : {std::size_t{1}, std::size_t{3}})
          CHECK(test::bit_identical(fused.layer_output(relu_at), kept.layer_output(relu_at)));
        // The convolution's own output is never there: its buffer holds the ReLU's.
        CHECK_THROWS_WITH(fused.layer_output(0), Catch::Contains("0.conv2d") && Catch::Contains("1.relu"));
        CHECK_THROWS_WITH(fused.layer_output(2), Catch::Contains("2.conv2d"));
        const Tensor dx_fused = fused.backward(dy);
        const Tensor dx_kept = kept.backward(dy);
        if (input_grad) CHECK(test::bit_identical(dx_fused, dx_kept));
        check_same_gradients_and_buffers(fused, kept);
        core::set_threads(1);
      }
    }
}

TEST_CASE("sequential/a fused Conv2d and ReLU name a gradient of the wrong shape", "[nn][sequential]") {
  nn::Conv2d conv(2, 3, 3, 1, 1);
  CHECK_THROWS_AS(conv.backward_relu(Tensor::from_shape({1, 3, 4, 4})), ShapeError);  // before any forward
  conv.forward_relu(Tensor::from_shape({2, 2, 4, 4}), nn::Mode::Train);
  CHECK_THROWS_WITH(conv.backward_relu(Tensor::from_shape({2, 3, 4, 5})),
                    Catch::Contains("conv2d") && Catch::Contains("[2, 3, 4, 4]"));
  CHECK_NOTHROW(conv.backward_relu(Tensor::from_shape({2, 3, 4, 4})));
}

TEST_CASE("sequential/backward names a dL/d(output) of the wrong shape", "[nn][sequential]") {
  nn::Sequential model({2, 8, 8});
  model.emplace<nn::Conv2d>(2, 4, 3, 1, 1);
  model.emplace<nn::ReLU>();
  model.emplace<nn::MaxPool2d>(2);
  core::Rng rng(1);
  model.initialize(rng);
  CHECK_THROWS_WITH(model.backward(Tensor::from_shape({3, 4, 4, 4})), Catch::Contains("before any forward"));
  Tensor x = Tensor::from_shape({3, 2, 8, 8});
  for (auto& v : x) v = rng.normal();
  model.forward(x);
  CHECK_THROWS_AS(model.backward(Tensor::from_shape({3, 4, 8, 8})), ShapeError);
  CHECK_THROWS_WITH(model.backward(Tensor::from_shape({3, 4, 8, 8})),
                    Catch::Contains("[3, 4, 8, 8]") && Catch::Contains("[3, 4, 4, 4]"));
  CHECK_NOTHROW(model.backward(Tensor::from_shape({3, 4, 4, 4})));
}
