// Optimizer setup: the optimizer type chosen by name, schedules converted from epochs to steps.
#include "experiment/optimizer_setup.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"

using namespace bnlab;
using namespace bnlab::experiment;

TEST_CASE("optimizer_setup/optimizer by type", "[runner][optimizer_setup]") {
  Tensor w = {1.f}, g = {1.f};
  std::vector<nn::Param> params{{"w", &w, &g, nn::ParamKind::Weight}};
  OptimizerSpec spec;
  spec.type = "sgd";
  CHECK(dynamic_cast<optim::Sgd*>(make_optimizer(spec, params).get()) != nullptr);
  spec.type = "adamw";
  CHECK(dynamic_cast<optim::Adam*>(make_optimizer(spec, params).get()) != nullptr);
  spec.type = "lbfgs";
  CHECK_THROWS_AS(make_optimizer(spec, params), ConfigError);
}

TEST_CASE("optimizer_setup/schedule in steps", "[runner][optimizer_setup]") {
  TrainSpec train;
  train.epochs = 10;
  train.optimizer.lr = 0.5;
  train.schedule.type = "multistep";
  train.schedule.warmup_epochs = 0.5;
  train.schedule.milestones = {3, 6.5};
  train.schedule.gamma = 0.2;
  const optim::ScheduleSpec s = schedule_for(train, 20);
  CHECK(s.kind == optim::ScheduleSpec::Kind::MultiStep);
  CHECK(s.base_lr == 0.5);
  CHECK(s.total_steps == 200);
  CHECK(s.warmup_steps == 10);
  CHECK(s.milestones == std::vector<long>{60, 130});
  CHECK(s.gamma == 0.2);

  train.schedule.type = "step";
  train.schedule.step_epochs = 2;
  CHECK(schedule_for(train, 20).step_size == 40);
  train.schedule.type = "cosine";
  CHECK(schedule_for(train, 3).kind == optim::ScheduleSpec::Kind::Cosine);
  train.schedule.type = "exponential";
  CHECK_THROWS_WITH(schedule_for(train, 3), Catch::Contains("train.schedule.type"));
}
