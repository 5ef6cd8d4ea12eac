// Conv2d: gradients over stride/padding/kernel/bias configurations, forward against a direct convolution.
#include "nn/conv2d.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "support/bit_identical.hpp"
#include "support/gradient_check.hpp"

using namespace bnlab;

namespace {

struct ConvConfig {
  std::size_t in, out;
  nn::Extent2 kernel, stride, padding;
  bool bias;
  std::size_t h, w;
};

std::string describe_config(const ConvConfig& c) {
  return "in " + std::to_string(c.in) + " out " + std::to_string(c.out) + " kernel " +
         std::to_string(c.kernel.h) + "x" + std::to_string(c.kernel.w) + " stride " +
         std::to_string(c.stride.h) + "x" + std::to_string(c.stride.w) + " padding " +
         std::to_string(c.padding.h) + "x" + std::to_string(c.padding.w) + (c.bias ? " bias" : " no bias") +
         " input " + std::to_string(c.h) + "x" + std::to_string(c.w);
}

const std::vector<ConvConfig> kConfigs = {
    {2, 3, 3, 1, 0, true, 5, 5},                 // plain 3×3
    {2, 3, 3, 1, 1, true, 5, 5},                 // same padding
    {2, 4, 3, 2, 1, false, 7, 6},                // strided, odd/even sizes, no bias
    {3, 2, {2, 3}, {1, 2}, {0, 1}, true, 6, 7},  // rectangular kernel, per-axis stride and padding
    {3, 5, 1, 1, 0, true, 4, 3},                 // pointwise path (no im2col)
    {1, 2, 4, 2, 0, false, 8, 8},                // even kernel, stride 2
};

// y[n][o][i][j] = b[o] + Σ_c,ki,kj w[o][c][ki][kj] · x[n][c][i·sh − ph + ki][j·sw − pw + kj] (0 outside).
Tensor direct_convolution(const Tensor& x, const nn::Conv2d& conv, const ConvConfig& c) {
  const std::size_t N = x.shape()[0], H = x.shape()[2], W = x.shape()[3];
  const std::size_t OH = (H + 2 * c.padding.h - c.kernel.h) / c.stride.h + 1;
  const std::size_t OW = (W + 2 * c.padding.w - c.kernel.w) / c.stride.w + 1;
  Tensor y = xt::zeros<float>({N, c.out, OH, OW});
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t o = 0; o < c.out; ++o)
      for (std::size_t i = 0; i < OH; ++i)
        for (std::size_t j = 0; j < OW; ++j) {
          double sum = c.bias ? conv.bias(o) : 0.0;
          for (std::size_t ch = 0; ch < c.in; ++ch)
            for (std::size_t ki = 0; ki < c.kernel.h; ++ki)
              for (std::size_t kj = 0; kj < c.kernel.w; ++kj) {
                const long r = static_cast<long>(i * c.stride.h + ki) - static_cast<long>(c.padding.h);
                const long s = static_cast<long>(j * c.stride.w + kj) - static_cast<long>(c.padding.w);
                if (r < 0 || s < 0 || r >= static_cast<long>(H) || s >= static_cast<long>(W)) continue;
                sum += static_cast<double>(conv.weight(o, ch, ki, kj)) * x(n, ch, r, s);
              }
          y(n, o, i, j) = static_cast<float>(sum);
        }
  return y;
}

}  // namespace

TEST_CASE("conv2d/gradients", "[nn][conv2d]") {
  for (const auto& c : kConfigs) {
    for (std::size_t n : {1, 2, 3}) {
      INFO(describe_config(c) << " batch " << n);
      nn::Conv2d conv(c.in, c.out, c.kernel, c.stride, c.padding, c.bias);
      test::check_layer_gradients(conv, {n, c.in, c.h, c.w}, 100 + n);
    }
  }
}

TEST_CASE("conv2d/forward equals direct convolution", "[nn][conv2d]") {
  core::Rng rng(7);
  for (const auto& c : kConfigs) {
    INFO(describe_config(c));
    nn::Conv2d conv(c.in, c.out, c.kernel, c.stride, c.padding, c.bias);
    conv.initialize(rng);
    Tensor x = Tensor::from_shape({3, c.in, c.h, c.w});
    for (auto& v : x) v = rng.normal();
    const Tensor expected = direct_convolution(x, conv, c);
    const Tensor& y = conv.forward(x, nn::Mode::Train);
    REQUIRE(shape_of(y) == shape_of(expected));
    for (std::size_t i = 0; i < y.size(); ++i) {
      INFO("element " << i);
      REQUIRE(y.data()[i] == Approx(expected.data()[i]).margin(1e-5));
    }
  }
}

TEST_CASE("conv2d/buffers are reused and resized with the batch", "[nn][conv2d]") {
  nn::Conv2d conv(2, 3, 3, 1, 1);
  core::Rng rng(3);
  conv.initialize(rng);
  Tensor x4 = xt::ones<float>({4, 2, 5, 5});
  const Tensor& y4 = conv.forward(x4, nn::Mode::Train);
  const float* data = y4.data();
  const Tensor first = y4;
  Tensor x4b = xt::ones<float>({4, 2, 5, 5});
  CHECK(conv.forward(x4b, nn::Mode::Train).data() == data);  // same shape: no reallocation
  Tensor x2 = xt::ones<float>({2, 2, 5, 5});
  const Tensor& y2 = conv.forward(x2, nn::Mode::Train);
  CHECK(shape_of(y2) == Shape{2, 3, 5, 5});
  for (std::size_t i = 0; i < y2.size(); ++i) REQUIRE(y2.data()[i] == first.data()[i]);
}

TEST_CASE("conv2d/shape errors name the problem", "[nn][conv2d]") {
  nn::Conv2d conv(3, 8, 5);
  CHECK(conv.output_shape({2, 3, 32, 32}) == Shape{2, 8, 28, 28});
  CHECK_THROWS_WITH(conv.output_shape({2, 4, 32, 32}), Catch::Contains("[N, 3, H, W]"));
  CHECK_THROWS_WITH(conv.output_shape({2, 3 * 32 * 32}), Catch::Contains("[N, C, H, W]"));
  CHECK_THROWS_WITH(conv.output_shape({2, 3, 4, 4}),
                    Catch::Contains("kernel 5x5 is larger than the input 4x4"));
  CHECK_THROWS_AS(nn::Conv2d(3, 8, 0), ShapeError);
  CHECK_THROWS_WITH(nn::Conv2d(3, 8, 3, 0), Catch::Contains("stride"));
  CHECK_THROWS_AS(nn::Conv2d(0, 8, 3), ShapeError);
}

TEST_CASE("conv2d/default init follows PyTorch and set_init overrides it", "[nn][conv2d]") {
  // fan_in 2·3·3 = 18 and fan_out 16·3·3 = 144 differ enough that the wrong fan is visible.
  nn::Conv2d conv(2, 16, 3);
  core::Rng rng(1);
  conv.initialize(rng);
  const float bound = 1.0f / std::sqrt(18.0f);
  CHECK(xt::amax(xt::abs(conv.weight))() <= bound);
  CHECK(xt::amax(xt::abs(conv.weight))() > 0.9f * bound);  // 288 draws: P(all < 0.9·bound) ≈ 4e-7
  CHECK(xt::amax(xt::abs(conv.bias))() <= bound);
  CHECK(xt::amax(xt::abs(conv.bias))() > 0.0f);

  nn::InitSpec spec;
  spec.kind = nn::InitKind::Normal;
  spec.std = 0.5f;
  conv.set_init(spec);
  conv.initialize(rng);
  CHECK(xt::amax(xt::abs(conv.bias))() == 0.0f);
  CHECK(xt::amax(xt::abs(conv.weight))() > bound);
  CHECK(conv.describe()["init"]["kind"] == "normal");
}

TEST_CASE("conv2d/describe lists hyperparameters", "[nn][conv2d]") {
  nn::Conv2d conv(3, 16, {3, 5}, 2, {1, 2}, false);
  const auto d = conv.describe();
  CHECK(d["type"] == "conv2d");
  CHECK(d["in"] == 3);
  CHECK(d["out"] == 16);
  CHECK(d["kernel"] == nlohmann::json::array({3, 5}));
  CHECK(d["stride"] == nlohmann::json::array({2, 2}));
  CHECK(d["padding"] == nlohmann::json::array({1, 2}));
  CHECK(d["bias"] == false);
  CHECK(conv.params().size() == 1);
}

TEST_CASE("conv2d/sample by sample: observed forward and backward from a per-sample gradient",
          "[nn][conv2d]") {
  // What Sequential uses to fuse a following BatchNorm: forward_observed must hand over every sample's
  // finished output once, and backward_by_sample with the same gradient must give backward's results.
  for (const int threads : {1, 2}) {
    CAPTURE(threads);
    core::set_threads(threads);
    nn::Conv2d conv(2, 3, 3, 1, 1), reference(2, 3, 3, 1, 1);
    core::Rng rng(9);
    conv.initialize(rng);
    reference.weight = conv.weight;
    reference.bias = conv.bias;
    Tensor x = Tensor::from_shape({6, 2, 5, 5}), dy = Tensor::from_shape({6, 3, 5, 5});
    for (auto& v : x) v = rng.normal();
    for (auto& v : dy) v = rng.normal();
    const std::size_t sample = 3 * 5 * 5;
    // Written from the workers (each sample by one of them), checked here: Catch's assertions are not
    // thread-safe.
    std::vector<int> seen(6, 0), by_worker(6, -1);
    std::vector<float> copied(6 * sample);
    const Tensor& y =
        conv.forward_observed(x, nn::Mode::Train, [&](std::size_t n, int worker, const float* out) {
          ++seen[n];
          by_worker[n] = worker;
          std::copy(out, out + sample, copied.begin() + static_cast<std::ptrdiff_t>(n * sample));
        });
    CHECK(seen == std::vector<int>(6, 1));
    for (int w : by_worker) CHECK((w >= 0 && w < threads));
    CHECK(std::equal(copied.begin(), copied.end(), y.begin()));
    CHECK(test::bit_identical(y, reference.forward(x, nn::Mode::Train)));
    const Tensor dx = conv.backward_by_sample([&](std::size_t n, int, float* g) {
      std::copy(dy.data() + n * sample, dy.data() + (n + 1) * sample, g);
    });
    CHECK(test::bit_identical(dx, reference.backward(dy)));
    CHECK(test::bit_identical(conv.weight_grad, reference.weight_grad));
    CHECK(test::bit_identical(conv.bias_grad, reference.bias_grad));
  }
  core::set_threads(1);
}
