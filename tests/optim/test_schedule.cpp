// Schedules: endpoints, monotone segments, exact decay points, warmup, and errors naming the field.
#include "optim/schedule.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "core/error.hpp"

using namespace bnlab;
using Kind = optim::ScheduleSpec::Kind;

namespace {

optim::ScheduleSpec spec_of(Kind kind, double base_lr, long total_steps) {
  optim::ScheduleSpec s;
  s.kind = kind;
  s.base_lr = base_lr;
  s.total_steps = total_steps;
  return s;
}

}  // namespace

TEST_CASE("schedule/constant", "[optim][schedule]") {
  const auto s = spec_of(Kind::Constant, 0.3, 100);
  CHECK(optim::learning_rate(s, 0) == 0.3);
  CHECK(optim::learning_rate(s, 99) == 0.3);
  CHECK(optim::learning_rate(s, 5000) == 0.3);  // past total_steps stays defined
}

TEST_CASE("schedule/step decays by gamma every step_size steps", "[optim][schedule]") {
  auto s = spec_of(Kind::Step, 1.0, 100);
  s.step_size = 10;
  s.gamma = 0.5;
  CHECK(optim::learning_rate(s, 0) == 1.0);
  CHECK(optim::learning_rate(s, 9) == 1.0);
  CHECK(optim::learning_rate(s, 10) == 0.5);
  CHECK(optim::learning_rate(s, 19) == 0.5);
  CHECK(optim::learning_rate(s, 20) == 0.25);
  CHECK(optim::learning_rate(s, 99) == Approx(std::pow(0.5, 9)));
}

TEST_CASE("schedule/multistep decays at each milestone", "[optim][schedule]") {
  auto s = spec_of(Kind::MultiStep, 0.1, 100);
  s.milestones = {30, 80};
  s.gamma = 0.1;
  CHECK(optim::learning_rate(s, 0) == 0.1);
  CHECK(optim::learning_rate(s, 29) == 0.1);
  CHECK(optim::learning_rate(s, 30) == Approx(0.01));
  CHECK(optim::learning_rate(s, 79) == Approx(0.01));
  CHECK(optim::learning_rate(s, 80) == Approx(0.001));
  CHECK(optim::learning_rate(s, 99) == Approx(0.001));
}

TEST_CASE("schedule/cosine runs from base_lr to min_lr, monotonically", "[optim][schedule]") {
  auto s = spec_of(Kind::Cosine, 0.2, 100);
  s.min_lr = 0.02;
  CHECK(optim::learning_rate(s, 0) == 0.2);
  CHECK(optim::learning_rate(s, 50) == Approx(0.11));  // halfway: the mean of base and floor
  CHECK(optim::learning_rate(s, 100) == Approx(0.02));
  CHECK(optim::learning_rate(s, 1000) == Approx(0.02));
  // Symmetry of the cosine around the midpoint.
  CHECK(optim::learning_rate(s, 25) - 0.11 == Approx(0.11 - optim::learning_rate(s, 75)));
  for (long t = 1; t <= 100; ++t) {
    CAPTURE(t);
    REQUIRE(optim::learning_rate(s, t) < optim::learning_rate(s, t - 1));
  }
}

TEST_CASE("schedule/linear warmup then the schedule", "[optim][schedule]") {
  SECTION("constant") {
    auto s = spec_of(Kind::Constant, 0.4, 100);
    s.warmup_steps = 4;
    CHECK(optim::learning_rate(s, 0) == Approx(0.1));
    CHECK(optim::learning_rate(s, 1) == Approx(0.2));
    CHECK(optim::learning_rate(s, 2) == Approx(0.3));
    CHECK(optim::learning_rate(s, 3) == Approx(0.4));
    CHECK(optim::learning_rate(s, 4) == 0.4);
  }
  SECTION("cosine starts its decay where warmup ends") {
    auto s = spec_of(Kind::Cosine, 1.0, 110);
    s.warmup_steps = 10;
    for (long t = 1; t < 10; ++t) REQUIRE(optim::learning_rate(s, t) > optim::learning_rate(s, t - 1));
    CHECK(optim::learning_rate(s, 0) == Approx(0.1));
    CHECK(optim::learning_rate(s, 9) == Approx(1.0));
    CHECK(optim::learning_rate(s, 10) == Approx(1.0));
    CHECK(optim::learning_rate(s, 60) == Approx(0.5));
    CHECK(optim::learning_rate(s, 110) == Approx(0.0).margin(1e-12));
    for (long t = 11; t <= 110; ++t) REQUIRE(optim::learning_rate(s, t) < optim::learning_rate(s, t - 1));
  }
  SECTION("step") {
    auto s = spec_of(Kind::Step, 1.0, 100);
    s.warmup_steps = 2;
    s.step_size = 5;
    s.gamma = 0.5;
    CHECK(optim::learning_rate(s, 0) == Approx(0.5));
    CHECK(optim::learning_rate(s, 1) == Approx(1.0));
    CHECK(optim::learning_rate(s, 5) == Approx(0.5));
  }
}

TEST_CASE("schedule/invalid specs name the field", "[optim][schedule]") {
  auto s = spec_of(Kind::Constant, -0.1, 10);
  CHECK_THROWS_AS(optim::validate(s), ConfigError);
  CHECK_THROWS_WITH(optim::learning_rate(s, 0), Catch::Contains("base_lr"));
  s = spec_of(Kind::Constant, 0.1, 0);
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("total_steps"));
  s = spec_of(Kind::Constant, 0.1, 10);
  s.warmup_steps = -1;
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("warmup_steps"));
  s = spec_of(Kind::Step, 0.1, 10);
  s.step_size = 0;
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("step_size"));
  s = spec_of(Kind::Step, 0.1, 10);
  s.gamma = 0;
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("gamma"));
  s = spec_of(Kind::MultiStep, 0.1, 10);
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("milestones"));  // none given
  s.milestones = {5, 5};
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("strictly increasing"));
  s.milestones = {-2};
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("milestones"));
  s = spec_of(Kind::Cosine, 0.1, 10);
  s.min_lr = 0.5;
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("min_lr"));
  s = spec_of(Kind::Cosine, 0.1, 10);
  s.warmup_steps = 10;
  CHECK_THROWS_WITH(optim::validate(s), Catch::Contains("warmup_steps"));
  s = spec_of(Kind::Constant, 0.1, 10);
  CHECK_NOTHROW(optim::validate(s));
  CHECK_THROWS_AS(optim::learning_rate(s, -1), Error);
}

TEST_CASE("schedule/describe names the type and its settings", "[optim][schedule]") {
  auto s = spec_of(Kind::MultiStep, 0.1, 10);
  s.milestones = {3, 6};
  const auto j = optim::describe(s);
  CHECK(j.at("type") == "multistep");
  CHECK(j.at("milestones") == nlohmann::json({3, 6}));
  CHECK(optim::describe(spec_of(Kind::Cosine, 0.1, 10)).at("type") == "cosine");
}
