// `bnlab bench`: training and inference samples/s, GFLOP/s and peak memory of the reference models.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands/registry.hpp"
#include "core/blas_kernels.hpp"
#include "core/error.hpp"
#include "experiment/bench.hpp"

namespace bnlab::app {
namespace {

struct BenchArgs {
  std::string model = "all", norm = "all", dropout = "off";
  experiment::BenchOptions options;
  bool json = false;
};

void print_header(bool versus_plain) {
  std::printf("OpenBLAS kernels: %s (OPENBLAS_CORETYPE overrides)\n", core::blas_core_name().c_str());
  std::printf("%-10s %-6s %-7s %6s %7s %14s %10s %14s %10s %9s", "model", "norm", "dropout", "batch",
              "threads", "train samp/s", "train GF/s", "infer samp/s", "infer GF/s", "peak MB");
  if (versus_plain) std::printf(" %26s %26s", "train vs plain (quartiles)", "infer vs plain (quartiles)");
  std::printf("\n");
}

void print_row(const experiment::BenchResult& r) {
  std::printf("%-10s %-6s %-7s %6zu %7d %14.0f %10.1f %14.0f %10.1f %9.0f", r.what.model.c_str(),
              r.what.norm.c_str(), r.what.dropout ? "on" : "off", r.batch, r.threads, r.train_samples_per_s,
              r.train_gflops, r.infer_samples_per_s, r.infer_gflops, r.peak_rss_mb);
  // The median cost, and in brackets the quartiles of the rounds' costs (how far they spread).
  auto print_cost = [](const std::optional<double>& cost,
                       const std::optional<experiment::BenchResult::CostQuartiles>& quartiles) {
    if (!cost || !quartiles) return;
    std::printf(" %+10.1f%% [%+5.1f, %+5.1f]", 100.0 * *cost, 100.0 * quartiles->q1, 100.0 * quartiles->q3);
  };
  print_cost(r.train_cost_vs_plain, r.train_cost_quartiles);
  print_cost(r.infer_cost_vs_plain, r.infer_cost_quartiles);
  std::printf("\n");
  std::fflush(stdout);
}

std::function<int()> setup_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  app.add_option("--model", args->model, "mlp, cnn, cifar-cnn or all")->capture_default_str();
  app.add_option("--norm", args->norm, "none, batch, layer, group (8 groups) or all")->capture_default_str();
  app.add_option("--dropout", args->dropout, "on, off or both (rate 0.5)")->capture_default_str();
  app.add_option("--batch", args->options.batch, "Batch size")->capture_default_str();
  app.add_option("--threads", args->options.threads,
                 "Threads of bnlab's pool (OpenBLAS always runs single-threaded inside it)")
      ->capture_default_str();
  app.add_option("--rounds", args->options.rounds, "Timed rounds (the median is reported)")
      ->capture_default_str();
  app.add_option("--steps", args->options.steps, "Training steps per round")->capture_default_str();
  app.add_option("--warmup", args->options.warmup_steps, "Untimed steps first")->capture_default_str();
  app.add_flag(
      "--versus-plain", args->options.versus_plain,
      "Time each case in alternating rounds with its plain model (norm none) and report its cost over "
      "it (the median over rounds, and the quartiles in brackets); peak memory then covers both models");
  app.add_flag("--json", args->json, "One JSON object per line instead of a table");
  return [args] {
    try {
      const auto cases = experiment::bench_cases(args->model, args->norm, args->dropout);
      if (!args->json) print_header(args->options.versus_plain);
      for (const auto& c : cases) {
        const auto result = experiment::run_bench(c, args->options);
        if (args->json) {
          std::cout << experiment::to_json(result).dump() << std::endl;
        } else {
          print_row(result);
        }
      }
    } catch (const Error& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 2;
    }
    return 0;
  };
}

const CommandRegistrar registrar{"bench", "Time training and inference of the reference models (issue 6)",
                                 setup_bench, 60};

}  // namespace
}  // namespace bnlab::app
