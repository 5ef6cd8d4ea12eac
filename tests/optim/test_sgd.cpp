// SGD: PyTorch goldens for every momentum/dampening/Nesterov/weight-decay variant, exclusions, state, errors.
#include "optim/sgd.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "optim/optimizer_cases.hpp"

using namespace bnlab;

namespace {

optim::SgdOptions sgd_options(const nlohmann::json& o) {
  optim::SgdOptions s;
  s.momentum = o.value("momentum", 0.0);
  s.dampening = o.value("dampening", 0.0);
  s.weight_decay = o.value("weight_decay", 0.0);
  s.nesterov = o.value("nesterov", false);
  s.exclude_norm_and_bias = o.value("exclude_norm_and_bias", false);
  return s;
}

}  // namespace

TEST_CASE("sgd/matches torch.optim.SGD", "[optim][sgd]") {
  std::size_t replayed = 0;
  for (const auto& c : test::optim_goldens().at("optimizers")) {
    if (c.at("type") != "sgd") continue;
    CAPTURE(c.at("name").get<std::string>());
    auto p = test::golden_params(c);
    optim::Sgd sgd(p.params(), sgd_options(c.at("options")));
    test::replay_golden(c, p, sgd);
    const auto& state = c.at("final_state");
    if (state.at("weight").contains("momentum_buffer")) {
      test::check_close(test::state_tensor(sgd, "weight.momentum_buffer"), state["weight"]["momentum_buffer"],
                        "weight.momentum_buffer");
      test::check_close(test::state_tensor(sgd, "bias.momentum_buffer"), state["bias"]["momentum_buffer"],
                        "bias.momentum_buffer");
    }
    ++replayed;
  }
  CHECK(replayed == 7);
}

TEST_CASE("sgd/exclude_norm_and_bias skips decay on biases and norm parameters", "[optim][sgd]") {
  Tensor w = {1.f, -2.f}, b = {1.f}, gamma = {1.f}, beta = {0.5f};
  Tensor gw = xt::zeros<float>({2}), gb = xt::zeros<float>({1}), gg = xt::zeros<float>({1}),
         gbeta = xt::zeros<float>({1});
  std::vector<nn::Param> params{{"w", &w, &gw, nn::ParamKind::Weight},
                                {"b", &b, &gb, nn::ParamKind::Bias},
                                {"gamma", &gamma, &gg, nn::ParamKind::NormScale},
                                {"beta", &beta, &gbeta, nn::ParamKind::NormShift}};
  optim::SgdOptions options;
  options.weight_decay = 0.5;
  SECTION("excluded") {
    options.exclude_norm_and_bias = true;
    optim::Sgd sgd(params, options);
    CHECK(sgd.params_without_decay() == 3);
    sgd.step(0.1);
    // Zero gradients: only weight decay moves a parameter, w ← w − lr·wd·w.
    CHECK(w(0) == Approx(0.95f));
    CHECK(w(1) == Approx(-1.9f));
    CHECK(b(0) == 1.f);
    CHECK(gamma(0) == 1.f);
    CHECK(beta(0) == 0.5f);
    CHECK(sgd.describe().at("exclude_norm_and_bias") == true);
  }
  SECTION("included") {
    optim::Sgd sgd(params, options);
    CHECK(sgd.params_without_decay() == 0);
    sgd.step(0.1);
    CHECK(b(0) == Approx(0.95f));
    CHECK(gamma(0) == Approx(0.95f));
    CHECK(beta(0) == Approx(0.475f));
  }
}

TEST_CASE("sgd/state restored into a new optimizer continues identically", "[optim][sgd]") {
  const auto& c = test::optim_goldens().at("optimizers").at(5);  // nesterov + weight decay
  REQUIRE(c.at("name") == "sgd nesterov weight decay");
  const auto options = sgd_options(c.at("options"));
  auto p = test::golden_params(c);
  optim::Sgd first(p.params(), options);
  const auto& grads = c.at("grads");
  const auto lrs = c.at("lrs").get<std::vector<double>>();
  auto feed = [&](std::size_t step) {
    p.weight_grad = test::tensor_from_json(grads[step].at("weight"), shape_of(p.weight));
    p.bias_grad = test::tensor_from_json(grads[step].at("bias"), shape_of(p.bias));
  };
  for (std::size_t s = 0; s < 2; ++s) {
    feed(s);
    first.step(lrs[s]);
  }
  optim::Sgd second(p.params(), options);
  auto from = first.state(), to = second.state();
  REQUIRE(from.size() == 3);  // step counter + two momentum buffers
  for (std::size_t k = 0; k < from.size(); ++k) {
    REQUIRE(from[k].name == to[k].name);
    *to[k].value = *from[k].value;
  }
  for (std::size_t s = 2; s < grads.size(); ++s) {
    feed(s);
    second.step(lrs[s]);
  }
  test::check_close(p.weight, c.at("after").back().at("weight"), "weight");
  test::check_close(p.bias, c.at("after").back().at("bias"), "bias");
}

TEST_CASE("sgd/zero_grad clears every gradient", "[optim][sgd]") {
  Tensor w = {1.f, 2.f}, g = {3.f, 4.f};
  optim::Sgd sgd({{"w", &w, &g, nn::ParamKind::Weight}}, {});
  sgd.zero_grad();
  CHECK(g(0) == 0.f);
  CHECK(g(1) == 0.f);
  CHECK(sgd.state().size() == 1);  // no momentum: only the step counter
}

TEST_CASE("sgd/rejects invalid options", "[optim][sgd]") {
  Tensor w = {1.f}, g = {0.f};
  std::vector<nn::Param> params{{"w", &w, &g, nn::ParamKind::Weight}};
  optim::SgdOptions o;
  o.momentum = -0.1;
  CHECK_THROWS_WITH(optim::Sgd(params, o), Catch::Contains("momentum"));
  o = {};
  o.nesterov = true;
  CHECK_THROWS_AS(optim::Sgd(params, o), ConfigError);  // Nesterov without momentum
  o.momentum = 0.9;
  o.dampening = 0.1;
  CHECK_THROWS_WITH(optim::Sgd(params, o), Catch::Contains("dampening"));
  o = {};
  o.weight_decay = -1;
  CHECK_THROWS_WITH(optim::Sgd(params, o), Catch::Contains("weight_decay"));
  optim::Sgd ok(params, {});
  CHECK_THROWS_AS(ok.step(-0.1), ConfigError);
  CHECK_THROWS_AS(ok.step(std::nan("")), ConfigError);
  Tensor mismatched = {0.f, 0.f};
  CHECK_THROWS_WITH(optim::Sgd({{"w", &w, &mismatched, nn::ParamKind::Weight}}, {}), Catch::Contains("'w'"));
}
