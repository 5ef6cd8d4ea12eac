// Tests of the benchmark: every reference model runs a tiny round and reports sane figures.
#include <cmath>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "experiment/bench.hpp"

using namespace bnlab;
using namespace bnlab::experiment;

namespace {

BenchOptions tiny() {
  BenchOptions o;
  o.batch = 4;
  o.rounds = 1;
  o.steps = 1;
  o.warmup_steps = 1;
  return o;
}

}  // namespace

TEST_CASE("bench/every reference model runs one tiny round", "[bench][experiment]") {
  for (const auto& c : bench_cases("all", "batch", "on")) {
    CAPTURE(c.model);
    const BenchResult r = run_bench(c, tiny());
    CHECK(r.train_samples_per_s > 0.0);
    CHECK(r.infer_samples_per_s > 0.0);
    CHECK(r.train_gflops > 0.0);
    CHECK(r.forward_macs_per_sample > 0.0);
    CHECK(r.peak_rss_mb > 1.0);
    CHECK(r.batch == 4);
    const auto j = to_json(r);
    CHECK(j["model"] == c.model);
    CHECK(j["norm"] == "batch");
    CHECK(j["dropout"] == true);
  }
  core::set_threads(1);
}

TEST_CASE("bench/mlp flops match a hand count", "[bench][experiment]") {
  // 784·256 + 256·256 + 256·10 multiply-adds in the dense layers, one per element for each ReLU.
  const double dense = 784.0 * 256 + 256.0 * 256 + 256.0 * 10, relu = 2 * 256.0;
  const BenchResult plain = run_bench({"mlp", "none", false}, tiny());
  CHECK(plain.forward_macs_per_sample == Approx(dense + relu));
  // Batch norm counts four per element of its output; training is three forward passes of two flops each.
  const BenchResult bn = run_bench({"mlp", "batch", false}, tiny());
  CHECK(bn.forward_macs_per_sample == Approx(dense + relu + 2 * 4 * 256.0));
  CHECK(bn.train_gflops == Approx(bn.train_samples_per_s * 6 * bn.forward_macs_per_sample * 1e-9));
}

TEST_CASE("bench/cases expand all and reject unknown names", "[bench][experiment]") {
  CHECK(bench_cases("all", "all", "both").size() == 3 * 4 * 2);
  CHECK(bench_cases("cnn", "group", "off").size() == 1);
  CHECK_THROWS_WITH(bench_cases("resnet", "none", "off"),
                    Catch::Contains("--model") && Catch::Contains("resnet"));
  CHECK_THROWS_AS(bench_cases("mlp", "instance", "off"), ConfigError);
  CHECK_THROWS_AS(run_bench({"mlp", "batch", false},
                            [] {
                              BenchOptions o = tiny();
                              o.batch = 1;
                              return o;
                            }()),
                  ConfigError);
}

TEST_CASE("bench/two threads run every model", "[bench][experiment]") {
  BenchOptions o = tiny();
  o.threads = 2;
  for (const auto& m : bench_models()) {
    CAPTURE(m);
    const BenchResult r = run_bench({m, "group", false}, o);
    CHECK(r.threads == 2);
    CHECK(r.train_samples_per_s > 0.0);
  }
  core::set_threads(1);
}

TEST_CASE("bench/versus plain times the plain model alongside", "[bench][experiment]") {
  BenchOptions o = tiny();
  o.rounds = 3;
  o.versus_plain = true;
  const BenchResult bn = run_bench({"cnn", "batch", false}, o);
  REQUIRE(bn.train_cost_vs_plain);
  REQUIRE(bn.infer_cost_vs_plain);
  // A cost is a ratio of two positive times minus one: above −1, and finite.
  CHECK(*bn.train_cost_vs_plain > -1.0);
  CHECK(std::isfinite(*bn.train_cost_vs_plain));
  CHECK(*bn.infer_cost_vs_plain > -1.0);
  CHECK(to_json(bn).contains("train_cost_vs_plain"));
  // The quartiles of the same per-round costs bracket their median.
  REQUIRE(bn.train_cost_quartiles);
  REQUIRE(bn.infer_cost_quartiles);
  CHECK(bn.train_cost_quartiles->q1 <= *bn.train_cost_vs_plain);
  CHECK(*bn.train_cost_vs_plain <= bn.train_cost_quartiles->q3);
  CHECK(bn.infer_cost_quartiles->q1 <= *bn.infer_cost_vs_plain);
  CHECK(*bn.infer_cost_vs_plain <= bn.infer_cost_quartiles->q3);
  CHECK(bn.train_cost_quartiles->q1 > -1.0);
  CHECK(to_json(bn).value("train_cost_vs_plain_q1", 1.0) == bn.train_cost_quartiles->q1);
  CHECK(to_json(bn).value("infer_cost_vs_plain_q3", -2.0) == bn.infer_cost_quartiles->q3);
  // The plain case is its own reference; without the option there is no cost at all.
  const BenchResult plain = run_bench({"cnn", "none", false}, o);
  CHECK(plain.train_cost_vs_plain == 0.0);
  REQUIRE(plain.train_cost_quartiles);
  CHECK(plain.train_cost_quartiles->q3 == 0.0);
  const BenchResult alone = run_bench({"cnn", "batch", false}, tiny());
  CHECK_FALSE(alone.train_cost_vs_plain);
  CHECK_FALSE(to_json(alone).contains("train_cost_vs_plain"));
  CHECK_FALSE(alone.train_cost_quartiles);
  CHECK_FALSE(to_json(alone).contains("train_cost_vs_plain_q1"));
}
