// Central-difference checks in double accumulation over float32 layers.
#include "support/gradient_check.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace bnlab::test {

namespace {

double objective(const Tensor& y, const Tensor& g) {
  double sum = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(y.data()[i]) * g.data()[i];
  return sum;
}

std::vector<std::size_t> coords_to_check(std::size_t n, std::size_t max, core::Rng& rng) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  if (n <= max) return idx;
  for (std::size_t i = 0; i < max; ++i) std::swap(idx[i], idx[i + rng.below(n - i)]);
  idx.resize(max);
  return idx;
}

}  // namespace

void fill_away_from_zero(Tensor& t, core::Rng& rng, float gap) {
  for (auto& v : t) {
    float x = rng.normal();
    v = x >= 0 ? x + gap : x - gap;
  }
}

void fill_distinct(Tensor& t, core::Rng& rng, float spacing) {
  const std::size_t n = t.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  const float centre = 0.5f * static_cast<float>(n == 0 ? 0 : n - 1);
  for (std::size_t i = 0; i < n; ++i) t.data()[i] = (static_cast<float>(order[i]) - centre) * spacing;
}

void check_layer_gradients(nn::Layer& layer, const Shape& input_shape, std::uint64_t seed,
                           const GradCheckOptions& options) {
  core::Rng rng(seed);
  layer.initialize(rng);
  // Perturb parameters away from their initial values (γ=1, β=0 would hide some bugs).
  for (auto& p : layer.params())
    for (auto& v : *p.value) v += 0.3f * rng.normal();

  Tensor x = Tensor::from_shape(input_shape);
  if (options.fill_input)
    options.fill_input(x, rng);
  else
    for (auto& v : x) v = rng.normal();

  auto run_forward = [&]() -> const Tensor& {
    if (options.before_forward) options.before_forward();
    return layer.forward(x, options.mode);
  };

  const Shape out_shape = layer.output_shape(input_shape);
  Tensor g = Tensor::from_shape(out_shape);
  for (auto& v : g) v = rng.normal();

  auto zero_grads = [&] {
    for (auto& p : layer.params()) std::fill(p.grad->begin(), p.grad->end(), 0.0f);
  };

  zero_grads();
  const Tensor& y0 = run_forward();
  REQUIRE(shape_of(y0) == out_shape);
  Tensor analytic_dx = layer.backward(g);
  REQUIRE(shape_of(analytic_dx) == input_shape);
  std::vector<Tensor> analytic_dp;
  for (auto& p : layer.params()) analytic_dp.push_back(*p.grad);

  auto compare = [&](const std::string& what, std::size_t i, double a, double n) {
    const double tol = options.atol + options.rtol * std::max(std::abs(a), std::abs(n));
    if (std::abs(a - n) > tol) {
      INFO(layer.type() << " " << what << "[" << i << "] analytic " << a << " numeric " << n << " input "
                        << to_string(input_shape));
      CHECK(std::abs(a - n) <= tol);
    }
  };

  const double h = options.eps;
  for (std::size_t i : coords_to_check(x.size(), options.max_coords, rng)) {
    const float saved = x.data()[i];
    x.data()[i] = saved + options.eps;
    const double lp = objective(run_forward(), g);
    x.data()[i] = saved - options.eps;
    const double lm = objective(run_forward(), g);
    x.data()[i] = saved;
    compare("d/dinput", i, analytic_dx.data()[i], (lp - lm) / (2 * h));
  }

  auto params = layer.params();
  for (std::size_t k = 0; k < params.size(); ++k) {
    Tensor& value = *params[k].value;
    for (std::size_t i : coords_to_check(value.size(), options.max_coords, rng)) {
      const float saved = value.data()[i];
      value.data()[i] = saved + options.eps;
      const double lp = objective(run_forward(), g);
      value.data()[i] = saved - options.eps;
      const double lm = objective(run_forward(), g);
      value.data()[i] = saved;
      compare("d/d" + params[k].name, i, analytic_dp[k].data()[i], (lp - lm) / (2 * h));
    }
  }

  // Accumulation: two forward/backward passes without zeroing must give twice the gradient.
  if (!params.empty()) {
    zero_grads();
    run_forward();
    layer.backward(g);
    run_forward();
    layer.backward(g);
    for (std::size_t k = 0; k < params.size(); ++k) {
      const Tensor& twice = *params[k].grad;
      for (std::size_t i = 0; i < twice.size(); ++i) {
        const double expected = 2.0 * analytic_dp[k].data()[i];
        if (std::abs(twice.data()[i] - expected) > 1e-4 + 1e-4 * std::abs(expected)) {
          INFO(layer.type() << " " << params[k].name << " gradient was overwritten, not accumulated, at "
                            << i);
          CHECK(twice.data()[i] == Approx(expected));
          break;
        }
      }
    }
  }
}

}  // namespace bnlab::test
