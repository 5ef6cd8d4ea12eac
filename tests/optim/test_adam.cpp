// Adam and AdamW: PyTorch goldens (coupled vs decoupled decay, betas, eps, exclusions), moments, errors.
#include "optim/adam.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "optim/optimizer_cases.hpp"

using namespace bnlab;

namespace {

optim::AdamOptions adam_options(const nlohmann::json& o) {
  optim::AdamOptions a;
  a.beta1 = o.value("beta1", 0.9);
  a.beta2 = o.value("beta2", 0.999);
  a.eps = o.value("eps", 1e-8);
  a.weight_decay = o.value("weight_decay", 0.0);
  a.decoupled_weight_decay = o.value("decoupled_weight_decay", false);
  a.exclude_norm_and_bias = o.value("exclude_norm_and_bias", false);
  return a;
}

}  // namespace

TEST_CASE("adam/matches torch.optim.Adam and AdamW", "[optim][adam]") {
  std::size_t adam = 0, adamw = 0;
  for (const auto& c : test::optim_goldens().at("optimizers")) {
    if (c.at("type") == "sgd") continue;
    CAPTURE(c.at("name").get<std::string>());
    auto p = test::golden_params(c);
    const auto options = adam_options(c.at("options"));
    REQUIRE(options.decoupled_weight_decay == (c.at("type") == "adamw"));
    optim::Adam opt(p.params(), options);
    test::replay_golden(c, p, opt);
    const auto& state = c.at("final_state");
    for (const char* name : {"weight", "bias"}) {
      test::check_close(test::state_tensor(opt, std::string(name) + ".exp_avg"), state.at(name).at("exp_avg"),
                        std::string(name) + ".exp_avg");
      test::check_close(test::state_tensor(opt, std::string(name) + ".exp_avg_sq"),
                        state.at(name).at("exp_avg_sq"), std::string(name) + ".exp_avg_sq");
    }
    CHECK(test::state_tensor(opt, "adam.steps")(0) == state.at("weight").at("step").get<float>());
    (options.decoupled_weight_decay ? adamw : adam)++;
  }
  CHECK(adam == 4);
  CHECK(adamw == 3);
}

TEST_CASE("adam/first step moves each weight by about lr against its gradient", "[optim][adam]") {
  // With bias correction, m̂/√v̂ = g/|g| on step one, whatever the gradient's scale.
  Tensor w = {0.f, 0.f, 0.f}, g = {1e-3f, -50.f, 2.f};
  optim::Adam adam({{"w", &w, &g, nn::ParamKind::Weight}}, {});
  adam.step(0.01);
  CHECK(w(0) == Approx(-0.01).epsilon(1e-4));
  CHECK(w(1) == Approx(0.01).epsilon(1e-4));
  CHECK(w(2) == Approx(-0.01).epsilon(1e-4));
}

TEST_CASE("adam/AdamW decays excluded parameters not at all and others by lr·wd", "[optim][adam]") {
  Tensor w = {2.f}, b = {2.f}, gw = {0.f}, gb = {0.f};
  optim::AdamOptions o;
  o.weight_decay = 0.5;
  o.decoupled_weight_decay = true;
  o.exclude_norm_and_bias = true;
  optim::Adam adamw({{"w", &w, &gw, nn::ParamKind::Weight}, {"b", &b, &gb, nn::ParamKind::NormShift}}, o);
  adamw.step(0.1);
  // Zero gradient: the Adam step is 0, only the decoupled shrink w·(1 − lr·wd) acts.
  CHECK(w(0) == Approx(2.f * 0.95f));
  CHECK(b(0) == 2.f);
  CHECK(adamw.describe().at("type") == "adamw");
  CHECK(adamw.params_without_decay() == 1);
}

TEST_CASE("adam/rejects invalid options", "[optim][adam]") {
  Tensor w = {1.f}, g = {0.f};
  std::vector<nn::Param> params{{"w", &w, &g, nn::ParamKind::Weight}};
  optim::AdamOptions o;
  o.beta1 = 1.0;
  CHECK_THROWS_WITH(optim::Adam(params, o), Catch::Contains("beta1"));
  o = {};
  o.beta2 = -0.5;
  CHECK_THROWS_WITH(optim::Adam(params, o), Catch::Contains("beta2"));
  o = {};
  o.eps = -1e-8;
  CHECK_THROWS_AS(optim::Adam(params, o), ConfigError);
  o = {};
  o.decoupled_weight_decay = true;
  o.weight_decay = std::nan("");
  CHECK_THROWS_WITH(optim::Adam(params, o), Catch::Contains("weight_decay"));
  optim::Adam ok(params, {});
  CHECK_THROWS_AS(ok.step(-1.0), ConfigError);
}
