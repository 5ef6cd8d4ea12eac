// BatchNorm1d/2d: PyTorch goldens, gradients in both modes, running-statistics semantics, batch-of-one error,
// the same bits on any thread count.
#include "nn/batch_norm.hpp"

#include <cmath>
#include <limits>
#include <memory>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "support/bit_identical.hpp"
#include "support/gradient_check.hpp"
#include "support/norm_goldens.hpp"

using namespace bnlab;

namespace {

std::unique_ptr<nn::BatchNorm> make_batch_norm(const Shape& input, const nn::BatchNormOptions& options = {}) {
  if (input.size() == 4) return std::make_unique<nn::BatchNorm2d>(input[1], options);
  return std::make_unique<nn::BatchNorm1d>(input[1], options);
}

// A [N, 1] batch: one feature, one value per sample.
Tensor column(std::initializer_list<float> values) {
  Tensor t = Tensor::from_shape({values.size(), 1});
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

void zero_grads(nn::Layer& layer) {
  for (auto& p : layer.params()) std::fill(p.grad->begin(), p.grad->end(), 0.0f);
}

void check_running_stats(nn::BatchNorm& bn, const nlohmann::json& step, const std::string& where) {
  test::check_matches_golden(bn.running_mean, step.at("running_mean"), where + " running_mean");
  test::check_matches_golden(bn.running_var, step.at("running_var"), where + " running_var");
  CHECK(bn.num_batches_tracked.data()[0] == step.at("num_batches_tracked").get<float>());
}

}  // namespace

TEST_CASE("batchnorm/matches PyTorch goldens", "[nn][batchnorm]") {
  const nlohmann::json& cases = test::golden_cases("batchnorm");
  REQUIRE(cases.size() >= 8);
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.at("name").get<std::string>()) {
      const Shape shape = test::golden_shape(c.at("input_shape"));
      nn::BatchNormOptions options;
      options.eps = c.at("eps").get<double>();
      if (!c.at("momentum").is_null())
        options.momentum = c.at("momentum").get<double>();
      else
        options.momentum.reset();
      options.affine = c.at("affine").get<bool>();
      options.track_running_stats = c.at("track_running_stats").get<bool>();
      auto bn = make_batch_norm(shape, options);
      CHECK(bn->type() == (c.at("kind") == "2d" ? "batchnorm2d" : "batchnorm1d"));
      if (options.affine) {
        bn->weight = test::golden_tensor(c.at("weight"), {shape[1]});
        bn->bias = test::golden_tensor(c.at("bias"), {shape[1]});
      }

      const auto& steps = c.at("train_steps");
      REQUIRE(steps.size() == 3);
      for (std::size_t i = 0; i < steps.size(); ++i) {
        const auto& s = steps[i];
        const std::string where = "train step " + std::to_string(i + 1);
        const Tensor x = test::golden_tensor(s.at("input"), shape);
        zero_grads(*bn);
        const Tensor& y = bn->forward(x, nn::Mode::Train);
        if (s.contains("output")) {
          test::check_matches_golden(y, s.at("output"), where + " output");
          const Tensor dx = bn->backward(test::golden_tensor(s.at("grad_output"), shape));
          test::check_matches_golden(dx, s.at("grad_input"), where + " grad_input");
          if (options.affine) {
            test::check_matches_golden(bn->weight_grad, s.at("grad_weight"), where + " grad_weight");
            test::check_matches_golden(bn->bias_grad, s.at("grad_bias"), where + " grad_bias");
          }
        }
        if (options.track_running_stats) check_running_stats(*bn, s, where);
      }

      const auto& e = c.at("eval");
      const Tensor x = test::golden_tensor(e.at("input"), shape);
      test::check_matches_golden(bn->forward(x, nn::Mode::Eval), e.at("output"), "eval output");
      const Tensor dx = bn->backward(test::golden_tensor(e.at("grad_output"), shape));
      test::check_matches_golden(dx, e.at("grad_input"), "eval grad_input");
      // Eval never moves the running statistics.
      if (options.track_running_stats) check_running_stats(*bn, steps[2], "after eval");
    }
  }
}

TEST_CASE("batchnorm/gradients in training mode", "[nn][batchnorm]") {
  // With two values per channel x̂ = ±d/√(d² + eps): steep where the two values nearly coincide, so keep the
  // samples apart for the central differences.
  test::GradCheckOptions spread;
  spread.fill_input = [](Tensor& t, core::Rng& rng) {
    const std::size_t per_sample = t.size() / t.shape()[0];
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = rng.normal(0.0f, 0.3f) + 1.5f * (i / per_sample);
  };
  for (std::size_t n : {2, 5}) {
    CAPTURE(n);
    nn::BatchNorm1d bn(4);
    test::check_layer_gradients(bn, {n, 4}, 100 + n, spread);
  }
  // Batch of one is legal for 2d when H·W > 1.
  for (std::size_t n : {1, 2, 3}) {
    CAPTURE(n);
    nn::BatchNorm2d bn(3);
    test::check_layer_gradients(bn, {n, 3, 2, 3}, 200 + n);
  }
  nn::BatchNormOptions plain;
  plain.affine = false;
  plain.momentum.reset();
  nn::BatchNorm2d no_affine(2, plain);
  test::check_layer_gradients(no_affine, {3, 2, 2, 2}, 7);
  nn::BatchNorm1d sequence(2);  // [N, C, L] input, statistics over N·L
  test::check_layer_gradients(sequence, {2, 2, 3}, 8);
}

TEST_CASE("batchnorm/gradients in eval mode", "[nn][batchnorm]") {
  test::GradCheckOptions opt;
  opt.mode = nn::Mode::Eval;
  for (std::size_t n : {1, 2, 3}) {
    CAPTURE(n);
    nn::BatchNorm2d bn(3);
    // Set after initialize() resets them: stats far from (0, 1) so a backward using batch stats would fail.
    opt.before_forward = [&bn] {
      bn.running_mean = {0.5f, -1.0f, 2.0f};
      bn.running_var = {0.25f, 4.0f, 1.5f};
    };
    test::check_layer_gradients(bn, {n, 3, 2, 2}, 300 + n, opt);

    nn::BatchNorm1d bn1(3);
    opt.before_forward = [&bn1] {
      bn1.running_mean = {0.5f, -1.0f, 2.0f};
      bn1.running_var = {0.25f, 4.0f, 1.5f};
    };
    test::check_layer_gradients(bn1, {n, 3}, 400 + n, opt);
  }
  // Without running statistics eval normalizes with the batch, so backward is the training formula.
  nn::BatchNormOptions untracked;
  untracked.track_running_stats = false;
  nn::BatchNorm1d bn(3, untracked);
  opt.before_forward = nullptr;
  test::check_layer_gradients(bn, {3, 3}, 9, opt);
}

TEST_CASE("batchnorm/one value per channel in training is a ShapeError", "[nn][batchnorm]") {
  nn::BatchNorm1d bn1(3);
  const Tensor row = xt::ones<float>({1, 3});
  CHECK_THROWS_AS(bn1.forward(row, nn::Mode::Train), ShapeError);
  CHECK_THROWS_WITH(bn1.forward(row, nn::Mode::Train), Catch::Contains("batchnorm1d") &&
                                                           Catch::Contains("[1, 3]") &&
                                                           Catch::Contains("batch size"));
  // The failed step left the running statistics alone.
  CHECK(bn1.num_batches_tracked.data()[0] == 0.0f);
  CHECK(bn1.running_mean(0) == 0.0f);
  // Eval with running statistics takes a batch of one.
  CHECK_NOTHROW(bn1.forward(row, nn::Mode::Eval));

  nn::BatchNorm2d bn2(2);
  const Tensor pixel = xt::ones<float>({1, 2, 1, 1});
  CHECK_THROWS_WITH(bn2.forward(pixel, nn::Mode::Train), Catch::Contains("N·H·W = 1"));
  CHECK_NOTHROW(bn2.forward(xt::ones<float>({2, 2, 1, 1}), nn::Mode::Train));

  // Eval without running statistics needs batch statistics too (as PyTorch).
  nn::BatchNormOptions untracked;
  untracked.track_running_stats = false;
  nn::BatchNorm1d bn3(3, untracked);
  CHECK_THROWS_AS(bn3.forward(row, nn::Mode::Eval), ShapeError);
}

TEST_CASE("batchnorm/momentum weights the new statistic", "[nn][batchnorm]") {
  nn::BatchNorm1d bn(1);                            // momentum 0.1
  bn.forward(column({1.f, 3.f}), nn::Mode::Train);  // mean 2, unbiased var 2
  CHECK(bn.running_mean(0) == Approx(0.2));
  CHECK(bn.running_var(0) == Approx(0.9 * 1.0 + 0.1 * 2.0));
  bn.forward(column({3.f, 5.f}), nn::Mode::Train);  // mean 4, var 2
  CHECK(bn.running_mean(0) == Approx(0.9 * 0.2 + 0.1 * 4.0));
  CHECK(bn.running_var(0) == Approx(0.9 * 1.1 + 0.1 * 2.0));
  CHECK(bn.num_batches_tracked(0) == 2.0f);

  nn::BatchNormOptions frozen;
  frozen.momentum = 0.0;
  nn::BatchNorm1d still(1, frozen);
  still.forward(column({1.f, 3.f}), nn::Mode::Train);
  CHECK(still.running_mean(0) == 0.0f);
  CHECK(still.running_var(0) == 1.0f);
  CHECK(still.num_batches_tracked(0) == 1.0f);

  nn::BatchNormOptions bad;
  bad.momentum = 1.5;
  CHECK_THROWS_AS(nn::BatchNorm1d(1, bad), ConfigError);
}

TEST_CASE("batchnorm/null momentum is a cumulative average", "[nn][batchnorm]") {
  nn::BatchNormOptions cumulative;
  cumulative.momentum.reset();
  nn::BatchNorm1d bn(1, cumulative);
  bn.forward(column({1.f, 3.f}), nn::Mode::Train);  // mean 2, unbiased var 2
  // The first batch replaces the initial (0, 1) entirely.
  CHECK(bn.running_mean(0) == Approx(2.0));
  CHECK(bn.running_var(0) == Approx(2.0));
  bn.forward(column({2.f, 6.f}), nn::Mode::Train);       // mean 4, var 8
  bn.forward(column({0.f, 2.f, 4.f}), nn::Mode::Train);  // mean 2, var 4
  CHECK(bn.running_mean(0) == Approx((2.0 + 4.0 + 2.0) / 3));
  CHECK(bn.running_var(0) == Approx((2.0 + 8.0 + 4.0) / 3));
  CHECK(bn.num_batches_tracked(0) == 3.0f);
  CHECK(bn.describe().at("momentum") == "cumulative");
}

TEST_CASE("batchnorm/eval mode normalizes with the running statistics", "[nn][batchnorm]") {
  nn::BatchNorm1d bn(2);
  bn.running_mean = {1.f, -2.f};
  bn.running_var = {4.f, 0.25f};
  bn.weight = {2.f, 1.f};
  bn.bias = {0.5f, 0.f};
  const Tensor x = {{3.f, -1.f}, {-1.f, 0.f}};
  const Tensor y = bn.forward(x, nn::Mode::Eval);
  for (std::size_t n = 0; n < 2; ++n) {
    CHECK(y(n, 0) == Approx((x(n, 0) - 1.0) / std::sqrt(4.0 + 1e-5) * 2.0 + 0.5));
    CHECK(y(n, 1) == Approx((x(n, 1) + 2.0) / std::sqrt(0.25 + 1e-5)));
  }
  // Each sample's output is independent of the rest of the batch.
  const Tensor alone = bn.forward(Tensor{{3.f, -1.f}}, nn::Mode::Eval);
  CHECK(alone(0, 0) == y(0, 0));
  CHECK(alone(0, 1) == y(0, 1));
  CHECK(bn.num_batches_tracked(0) == 0.0f);
}

TEST_CASE("batchnorm/params, buffers and description", "[nn][batchnorm]") {
  nn::BatchNorm2d bn(4);
  auto params = bn.params();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[0].kind == nn::ParamKind::NormScale);
  CHECK(params[1].name == "bias");
  CHECK(params[1].kind == nn::ParamKind::NormShift);
  auto buffers = bn.buffers();
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[0].name == "running_mean");
  CHECK(buffers[1].name == "running_var");
  CHECK(buffers[2].name == "num_batches_tracked");
  CHECK(bn.running_var(3) == 1.0f);
  const auto d = bn.describe();
  CHECK(d.at("type") == "batchnorm2d");
  CHECK(d.at("channels") == 4);
  CHECK(d.at("eps") == Approx(1e-5));
  CHECK(d.at("momentum") == Approx(0.1));
  CHECK(d.at("affine") == true);
  CHECK(d.at("track_running_stats") == true);

  nn::BatchNormOptions bare;
  bare.affine = false;
  bare.track_running_stats = false;
  nn::BatchNorm1d none(4, bare);
  CHECK(none.params().empty());
  CHECK(none.buffers().empty());
}

TEST_CASE("batchnorm/rejects wrong input shapes", "[nn][batchnorm]") {
  CHECK_THROWS_AS(nn::BatchNorm1d(3).output_shape({2, 4}), ShapeError);
  CHECK_THROWS_WITH(nn::BatchNorm1d(3).output_shape({2, 3, 4, 4}), Catch::Contains("batchnorm2d"));
  CHECK_THROWS_WITH(nn::BatchNorm2d(3).output_shape({2, 3}), Catch::Contains("batchnorm1d"));
  CHECK(nn::BatchNorm2d(3).output_shape({5, 3, 2, 2}) == Shape{5, 3, 2, 2});
}

TEST_CASE("batchnorm/reuses its buffers across steps", "[nn][batchnorm]") {
  nn::BatchNorm2d bn(2);
  Tensor x = Tensor::from_shape({3, 2, 2, 2});
  core::Rng rng(1);
  for (auto& v : x) v = rng.normal();
  const float* out = bn.forward(x, nn::Mode::Train).data();
  const float* dx = bn.backward(x).data();
  CHECK(bn.forward(x, nn::Mode::Train).data() == out);
  CHECK(bn.backward(x).data() == dx);
}

TEST_CASE("batchnorm/2d equals 1d on the pixels as rows", "[nn][batchnorm]") {
  // [N, C, H, W] with H·W = 15 (vector lanes plus a remainder) against [N·H·W, C] (the row-loop path).
  const std::size_t n = 3, c = 2, hw = 15;
  nn::BatchNorm2d bn2(c);
  nn::BatchNorm1d bn1(c);
  bn2.weight = {1.5f, -0.5f};
  bn2.bias = {0.25f, 1.f};
  bn1.weight = bn2.weight;
  bn1.bias = bn2.bias;
  Tensor x = Tensor::from_shape({n, c, 3, 5}), g = Tensor::from_shape({n, c, 3, 5});
  core::Rng rng(5);
  for (auto& v : x) v = rng.normal(2.f, 3.f);
  for (auto& v : g) v = rng.normal();
  Tensor rows = Tensor::from_shape({n * hw, c}), grows = Tensor::from_shape({n * hw, c});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t ch = 0; ch < c; ++ch)
      for (std::size_t p = 0; p < hw; ++p) {
        rows.data()[(i * hw + p) * c + ch] = x.data()[(i * c + ch) * hw + p];
        grows.data()[(i * hw + p) * c + ch] = g.data()[(i * c + ch) * hw + p];
      }
  const Tensor y2 = bn2.forward(x, nn::Mode::Train), dx2 = bn2.backward(g);
  const Tensor y1 = bn1.forward(rows, nn::Mode::Train), dx1 = bn1.backward(grows);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t ch = 0; ch < c; ++ch)
      for (std::size_t p = 0; p < hw; ++p) {
        const std::size_t a = (i * c + ch) * hw + p, b = (i * hw + p) * c + ch;
        CHECK(y2.data()[a] == Approx(y1.data()[b]).margin(1e-5));
        CHECK(dx2.data()[a] == Approx(dx1.data()[b]).margin(1e-5));
      }
  for (std::size_t ch = 0; ch < c; ++ch) {
    CHECK(bn2.weight_grad(ch) == Approx(bn1.weight_grad(ch)).epsilon(1e-5));
    CHECK(bn2.bias_grad(ch) == Approx(bn1.bias_grad(ch)).epsilon(1e-5));
    CHECK(bn2.running_mean(ch) == Approx(bn1.running_mean(ch)).epsilon(1e-6));
    CHECK(bn2.running_var(ch) == Approx(bn1.running_var(ch)).epsilon(1e-6));
  }
  test::check_layer_gradients(bn2, {n, c, 3, 5}, 17);
}

TEST_CASE("batchnorm/statistics stay accurate when the mean dwarfs the spread", "[nn][batchnorm]") {
  // The variance comes from one pass of shifted sums; check it against a two-pass double reference when
  // |mean| = 3·10⁶σ (Σx² − N·mean² would lose the variance even in double), when the channel's first
  // value (the shift) is an outlier, and over runs of 64 and 49 values (lanes, and lanes plus a remainder).
  for (const Shape& shape : {Shape{6, 3, 8, 8}, Shape{5, 2, 7, 7}, Shape{300, 4}}) {
    CAPTURE(to_string(shape));
    const std::size_t n = shape[0], c = shape[1], positions = shape.size() == 4 ? shape[2] * shape[3] : 1;
    nn::BatchNormOptions options;
    options.momentum = 1.0;  // running statistics = this batch's statistics
    std::unique_ptr<nn::BatchNorm> bn = make_batch_norm(shape, options);
    Tensor x = Tensor::from_shape(shape);
    core::Rng rng(11);
    for (auto& v : x) v = rng.normal(3e5f, 0.1f);
    x.data()[0] = 3e5f + 30.f;  // channel 0 starts 300σ away from its mean
    bn->forward(x, nn::Mode::Train);
    for (std::size_t ch = 0; ch < c; ++ch) {
      std::vector<double> values;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t p = 0; p < positions; ++p) values.push_back(x.data()[(i * c + ch) * positions + p]);
      double mean = 0.0, squares = 0.0;
      for (double v : values) mean += v;
      mean /= static_cast<double>(values.size());
      for (double v : values) squares += (v - mean) * (v - mean);
      const double unbiased_var = squares / static_cast<double>(values.size() - 1);
      CHECK(bn->running_mean(ch) == Approx(mean).epsilon(1e-7));
      CHECK(bn->running_var(ch) == Approx(unbiased_var).epsilon(1e-4));
    }
  }
}

TEST_CASE("batchnorm/fused with a ReLU equals BatchNorm then ReLU bit for bit", "[nn][batchnorm]") {
  // Shapes: conv-sized (split over the pool), odd runs (lanes plus a remainder), dense rows, [N, C, L].
  for (const Shape& shape : {Shape{64, 16, 8, 8}, Shape{5, 3, 7, 7}, Shape{300, 6}, Shape{4, 3, 5}}) {
    for (const nn::Mode mode : {nn::Mode::Train, nn::Mode::Eval}) {
      for (const bool affine : {true, false}) {
        CAPTURE(to_string(shape), mode == nn::Mode::Train, affine);
        nn::BatchNormOptions options;
        options.affine = affine;
        std::unique_ptr<nn::BatchNorm> fused = make_batch_norm(shape, options),
                                       plain = make_batch_norm(shape, options);
        core::Rng rng(23);
        if (affine)
          for (std::size_t c = 0; c < shape[1]; ++c) {
            fused->weight(c) = plain->weight(c) = rng.normal(1.f, 0.5f);
            fused->bias(c) = plain->bias(c) = rng.normal(0.f, 0.5f);
          }
        for (std::size_t c = 0; c < shape[1]; ++c) {
          fused->running_mean(c) = plain->running_mean(c) = rng.normal(0.5f, 0.2f);
          fused->running_var(c) = plain->running_var(c) = rng.uniform(0.5f, 2.f);
        }
        nn::ReLU relu;
        Tensor x = Tensor::from_shape(shape), g = Tensor::from_shape(shape);
        // Two steps, so the second one starts from the updated running statistics.
        for (int step = 0; step < 2; ++step) {
          for (auto& v : x) v = rng.normal(0.5f, 2.f);
          for (auto& v : g) v = rng.normal();
          // In eval mode one NaN input gives one NaN output, which the ReLU passes on (in training it
          // would turn its whole channel's statistics into NaN).
          if (mode == nn::Mode::Eval) x.data()[1] = std::numeric_limits<float>::quiet_NaN();
          const Tensor y_fused = fused->forward_relu(x, mode);
          const Tensor y_plain = relu.forward(plain->forward(x, mode), mode);
          const Tensor dx_fused = fused->backward_relu(g);
          const Tensor dx_plain = plain->backward(relu.backward(g));
          CHECK(std::count(y_fused.begin(), y_fused.end(), 0.0f) > 0);  // the ReLU did clip something
          CHECK(test::bit_identical(y_fused, y_plain));
          CHECK(test::bit_identical(dx_fused, dx_plain));
          if (affine) {
            CHECK(test::bit_identical(fused->weight_grad, plain->weight_grad));
            CHECK(test::bit_identical(fused->bias_grad, plain->bias_grad));
          }
          CHECK(test::bit_identical(fused->running_mean, plain->running_mean));
          CHECK(test::bit_identical(fused->running_var, plain->running_var));
        }
      }
    }
  }
}

TEST_CASE("batchnorm/statistics and dx sample by sample equal the whole-tensor passes", "[nn][batchnorm]") {
  // The halves Sequential uses around a Conv2d: statistics handed over sample by sample, and backward's
  // sums followed by dx one sample at a time, each in any sample order.
  const Shape shape{5, 3, 4, 6};
  const std::size_t sample = 3 * 4 * 6;
  for (const nn::Mode mode : {nn::Mode::Train, nn::Mode::Eval}) {
    CAPTURE(mode == nn::Mode::Train);
    nn::BatchNorm2d split(3), whole(3);
    core::Rng rng(31);
    for (std::size_t c = 0; c < 3; ++c) {
      split.weight(c) = whole.weight(c) = rng.normal(1.f, 0.5f);
      split.bias(c) = whole.bias(c) = rng.normal(0.f, 0.5f);
    }
    Tensor x = Tensor::from_shape(shape), dy = Tensor::from_shape(shape);
    for (auto& v : x) v = rng.normal(2.f, 3.f);
    for (auto& v : dy) v = rng.normal();
    CHECK(split.uses_batch_statistics(mode) == (mode == nn::Mode::Train));
    if (split.uses_batch_statistics(mode)) {
      split.begin_sample_statistics(shape);
      for (std::size_t n : {4, 0, 3, 1, 2}) split.sample_statistics(n, x.data() + n * sample);
      split.end_sample_statistics();
    }
    CHECK(test::bit_identical(split.forward_relu(x, mode), whole.forward_relu(x, mode)));
    CHECK(test::bit_identical(split.running_mean, whole.running_mean));
    CHECK(test::bit_identical(split.running_var, whole.running_var));
    split.backward_sums(dy, nn::BatchNorm::Then::Relu);
    Tensor dx = Tensor::from_shape(shape);
    for (std::size_t n : {2, 4, 1, 0, 3}) split.backward_sample(n, 0, dx.data() + n * sample);
    CHECK(test::bit_identical(dx, whole.backward_relu(dy)));
    CHECK(test::bit_identical(split.weight_grad, whole.weight_grad));
    CHECK(test::bit_identical(split.bias_grad, whole.bias_grad));
  }
}

TEST_CASE("batchnorm/gives the same bits on one thread and on two", "[nn][batchnorm]") {
  // Inputs large enough for the passes over the tensor to be split over the threads by samples, and (the
  // last two) the per-channel statistics by channels: each sum must be taken in the same order whatever
  // the split.
  struct Case {
    Shape shape;
    nn::BatchNorm::Then then;
    bool by_windows = false;  // set_sums_by_pooling_windows
  };
  for (const Case& k :
       {Case{{64, 16, 8, 8}, nn::BatchNorm::Then::Nothing}, Case{{64, 16, 8, 8}, nn::BatchNorm::Then::Relu},
        Case{{64, 16, 8, 8}, nn::BatchNorm::Then::ReluMaxPool},
        Case{{96, 8, 14, 14}, nn::BatchNorm::Then::ReluMaxPool},
        Case{{64, 16, 8, 8}, nn::BatchNorm::Then::ReluMaxPool, true},
        Case{{96, 8, 14, 14}, nn::BatchNorm::Then::ReluMaxPool, true},
        Case{{64, 16, 8, 8}, nn::BatchNorm::Then::Nothing, true},
        Case{{2048, 128, 2, 2}, nn::BatchNorm::Then::Relu}, Case{{2048, 128}, nn::BatchNorm::Then::Relu}}) {
    CAPTURE(to_string(k.shape), static_cast<int>(k.then), k.by_windows);
    core::Rng rng(7);
    Tensor x = Tensor::from_shape(k.shape);
    for (auto& v : x) v = rng.normal(1.f, 2.f);
    // The first and last samples equal, their gradients ±1e16: the exact sums cancel them, but in double
    // the small terms added between them are rounded by their size, so summing in any other order (per
    // thread, say) changes the result even after rounding to float.
    const std::size_t sample = x.size() / k.shape[0], last = x.size() - sample;
    std::copy(x.data(), x.data() + sample, x.data() + last);
    struct Result {
      Tensor y, dx, weight_grad, bias_grad, running_mean, running_var;
    };
    auto run = [&](int threads) {
      core::set_threads(threads);
      auto bn = make_batch_norm(k.shape);
      bn->set_sums_by_pooling_windows(k.by_windows);
      core::Rng init(3);
      for (std::size_t c = 0; c < k.shape[1]; ++c) {
        bn->weight(c) = init.normal(1.f, 0.5f);
        bn->bias(c) = init.normal(0.f, 0.5f);
      }
      nn::MaxPool2d pool(nn::Extent2(2));
      Result r;
      for (int step = 0; step < 2; ++step) {
        zero_grads(*bn);
        r.y = k.then == nn::BatchNorm::Then::Nothing ? bn->forward(x, nn::Mode::Train)
              : k.then == nn::BatchNorm::Then::Relu  ? bn->forward_relu(x, nn::Mode::Train)
                                                     : bn->forward_relu_pool(x, nn::Mode::Train, pool);
        Tensor dy = r.y;
        core::Rng grads(11);
        for (auto& v : dy) v = grads.normal();
        const std::size_t dy_sample = dy.size() / k.shape[0];
        std::fill(dy.begin(), dy.begin() + dy_sample, 1e16f);
        std::fill(dy.end() - dy_sample, dy.end(), -1e16f);
        r.dx = k.then == nn::BatchNorm::Then::Nothing ? bn->backward(dy)
               : k.then == nn::BatchNorm::Then::Relu  ? bn->backward_relu(dy)
                                                      : bn->backward_relu_pool(dy, pool);
      }
      r.weight_grad = bn->weight_grad;
      r.bias_grad = bn->bias_grad;
      r.running_mean = bn->running_mean;
      r.running_var = bn->running_var;
      core::set_threads(1);
      return r;
    };
    const Result one = run(1), two = run(2);
    CHECK(test::bit_identical(one.y, two.y));
    CHECK(test::bit_identical(one.dx, two.dx));
    CHECK(test::bit_identical(one.weight_grad, two.weight_grad));
    CHECK(test::bit_identical(one.bias_grad, two.bias_grad));
    CHECK(test::bit_identical(one.running_mean, two.running_mean));
    CHECK(test::bit_identical(one.running_var, two.running_var));
  }
}

TEST_CASE(
    "batchnorm/sums by pooling windows: fused with ReLU and pooling equals the three layers bit for bit",
    "[nn][batchnorm]") {
  // set_sums_by_pooling_windows: forward_relu_pool's backward sums over each plane's windows (even widths),
  // or over its unpooled values in 2×2 blocks (odd widths), and a BatchNorm2d with a ReLU and a MaxPool2d
  // layer after it sums its dy in 2×2 blocks: the same numbers. Odd heights (a last row no window covers),
  // odd widths, train and eval (where an infinite input that no window picks adds 0·∞ to nothing), γ < 0.
  for (const Shape& shape :
       {Shape{6, 3, 8, 8}, Shape{5, 2, 7, 10}, Shape{4, 2, 10, 7}, Shape{3, 2, 14, 36}}) {
    for (const nn::Mode mode : {nn::Mode::Train, nn::Mode::Eval}) {
      CAPTURE(to_string(shape), mode == nn::Mode::Train);
      nn::BatchNorm2d fused(shape[1]), plain(shape[1]);
      fused.set_sums_by_pooling_windows(true);
      plain.set_sums_by_pooling_windows(true);
      core::Rng rng(43);
      for (std::size_t c = 0; c < shape[1]; ++c) {
        fused.weight(c) = plain.weight(c) = c == 0 ? -0.75f : rng.normal(1.f, 0.5f);
        fused.bias(c) = plain.bias(c) = rng.normal(0.f, 0.5f);
      }
      nn::ReLU relu;
      nn::MaxPool2d fused_pool(nn::Extent2(2)), pool(nn::Extent2(2));
      for (int step = 0; step < 2; ++step) {
        Tensor x(shape);
        for (auto& v : x) v = rng.normal(0.5f, 2.f);
        // In eval mode: a very negative input on a channel with γ > 0 loses its window; infinite, its 0·∞
        // must add nothing (in training it would make the channel's statistics NaN).
        if (mode == nn::Mode::Eval)
          x.data()[x.size() - 1 - shape[3]] = -std::numeric_limits<float>::infinity();
        zero_grads(fused);
        zero_grads(plain);
        const Tensor y_fused = fused.forward_relu_pool(x, mode, fused_pool);
        const Tensor y_plain = pool.forward(relu.forward(plain.forward(x, mode), mode), mode);
        REQUIRE(test::bit_identical(y_fused, y_plain));
        Tensor dy(shape_of(y_plain));
        for (auto& v : dy) v = rng.uniform(0.f, 1.f) < 0.1f ? 1e12f * rng.normal() : rng.normal();
        const Tensor dx_fused = fused.backward_relu_pool(dy, fused_pool);
        const Tensor dx_plain = plain.backward(relu.backward(pool.backward(dy)));
        CHECK(test::bit_identical(dx_fused, dx_plain));
        CHECK(test::bit_identical(fused.weight_grad, plain.weight_grad));
        CHECK(test::bit_identical(fused.bias_grad, plain.bias_grad));
        CHECK(std::isfinite(fused.weight_grad.data()[shape[1] - 1]));
      }
    }
  }
}
