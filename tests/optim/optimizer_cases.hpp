// Replays a golden optimizer case from PyTorch: fixed weight and bias, a gradient and lr per step.
#pragma once

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "optim/goldens.hpp"
#include "optim/optimizer.hpp"

namespace bnlab::test {

struct GoldenParams {
  Tensor weight, bias, weight_grad, bias_grad;
  std::vector<nn::Param> params() {
    return {{"weight", &weight, &weight_grad, nn::ParamKind::Weight},
            {"bias", &bias, &bias_grad, nn::ParamKind::Bias}};
  }
};

inline GoldenParams golden_params(const nlohmann::json& c) {
  GoldenParams p;
  const Shape ws = c.at("weight_shape").get<Shape>(), bs = c.at("bias_shape").get<Shape>();
  p.weight = tensor_from_json(c.at("weight"), ws);
  p.bias = tensor_from_json(c.at("bias"), bs);
  p.weight_grad = xt::zeros<float>(ws);
  p.bias_grad = xt::zeros<float>(bs);
  return p;
}

// With hardware FMA, bnlab fuses exactly the operations PyTorch's kernels fuse and leaves GCC nothing
// else to contract: the results must be bit-identical. Elsewhere a few ulps of rounding may differ.
#if defined(__FMA__) && defined(__GNUC__) && !defined(__clang__)
constexpr double kGoldenRelTol = 0.0;
#else
constexpr double kGoldenRelTol = 1e-6;
#endif

inline void check_close(const Tensor& actual, const nlohmann::json& expected, const std::string& what) {
  const auto e = expected.get<std::vector<float>>();
  REQUIRE(actual.size() == e.size());
  for (std::size_t i = 0; i < e.size(); ++i) {
    const double tol = kGoldenRelTol * std::max(1.0, std::abs(static_cast<double>(e[i])));
    if (std::abs(actual.data()[i] - e[i]) > tol) {
      INFO(what << "[" << i << "] = " << actual.data()[i] << ", PyTorch " << e[i]);
      CHECK(std::abs(actual.data()[i] - e[i]) <= tol);
    }
  }
}

// Runs every step of the case through `optimizer` (built on p.params()) and compares after each step.
inline void replay_golden(const nlohmann::json& c, GoldenParams& p, optim::Optimizer& optimizer) {
  const auto& grads = c.at("grads");
  const auto lrs = c.at("lrs").get<std::vector<double>>();
  for (std::size_t step = 0; step < grads.size(); ++step) {
    CAPTURE(step);
    p.weight_grad = tensor_from_json(grads[step].at("weight"), shape_of(p.weight));
    p.bias_grad = tensor_from_json(grads[step].at("bias"), shape_of(p.bias));
    optimizer.step(lrs.at(step));
    check_close(p.weight, c.at("after")[step].at("weight"), "weight");
    check_close(p.bias, c.at("after")[step].at("bias"), "bias");
  }
}

// Finds a named state tensor, failing the test when it is missing.
inline const Tensor& state_tensor(optim::Optimizer& optimizer, const std::string& name) {
  for (auto& s : optimizer.state())
    if (s.name == name) return *s.value;
  FAIL("optimizer state has no tensor named " << name);
  throw std::logic_error("unreachable");
}

}  // namespace bnlab::test
