// scripts/plot.py on generated runs: every figure is written as a PNG, unsupported figures are skipped
// with a reason, and a missing matplotlib gives a clear message.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "experiment/run_fixture.hpp"

namespace fs = std::filesystem;
using bnlab::test::read_text;
using bnlab::test::TempDir;

namespace {

const char* const kPython = "/usr/bin/python3";

int run_plot(const std::string& args, const fs::path& log, const std::string& env = "") {
  std::string cmd = env + " " + kPython + " " + BNLAB_SOURCE_DIR + "/scripts/plot.py " + args + " > " +
                    (log / "stdout.txt").string() + " 2> " + (log / "stderr.txt").string();
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void require_matplotlib() {
  std::string cmd = std::string(kPython) + " -c 'import matplotlib, numpy' > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    FAIL(kPython
         << " cannot import matplotlib and numpy: install python3-matplotlib (Debian) to render the plots");
}

bool is_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, 8);
  return in.gcount() == 8 && std::string(head, 8) == std::string("\x89PNG\r\n\x1a\n", 8);
}

}  // namespace

TEST_CASE("plot/every figure of a small run is a PNG", "[report][plot]") {
  require_matplotlib();
  TempDir dir("plot_run"), out("plot_out");
  // Learning rate × batch size, two seeds: every figure has something to show.
  auto run = bnlab::test::bn_vs_dropout_fixture(dir.path());
  run.swept_keys = {"train.optimizer.lr", "train.batch_size"};
  std::vector<bnlab::test::FixtureTrial> trials;
  for (auto t : run.trials) {
    if (t.seed == 3) continue;
    trials.push_back(t);
    t.batch_size = 128;
    t.final_acc -= 0.01;
    trials.push_back(t);
  }
  run.trials = trials;
  run.write();

  REQUIRE(run_plot(dir.path().string() + " --out " + out.path().string(), out.path()) == 0);
  std::string printed = read_text(out.path() / "stdout.txt");
  for (const char* name : {"convergence.png", "lr_sweep.png", "batch_size.png", "activations_plain.png",
                           "activations_batchnorm.png", "activations_dropout.png",
                           "activations_bn_dropout.png", "grad_norm.png", "bn_eval_gap.png"}) {
    CAPTURE(name);
    fs::path png = out.path() / name;
    CHECK(fs::exists(png));
    CHECK(is_png(png));
    CHECK_THAT(printed, Catch::Contains("wrote " + png.string()));
  }
}

TEST_CASE("plot/figures the run cannot support are skipped with the reason", "[report][plot]") {
  require_matplotlib();
  TempDir dir("plot_small"), out("plot_small_out");
  auto run = bnlab::test::bn_vs_dropout_fixture(dir.path());
  std::vector<bnlab::test::FixtureTrial> trials;
  for (const auto& t : run.trials)
    if (t.lr == 0.1 && (t.variant == "plain" || t.variant == "batchnorm")) trials.push_back(t);
  run.trials = trials;
  run.write();
  REQUIRE(run_plot(dir.path().string() + " --out " + out.path().string(), out.path()) == 0);
  std::string printed = read_text(out.path() / "stdout.txt");
  CHECK(is_png(out.path() / "convergence.png"));
  CHECK_FALSE(fs::exists(out.path() / "lr_sweep.png"));
  CHECK_THAT(printed, Catch::Contains("skipped lr_sweep.png: the run did not sweep train.optimizer.lr"));
  CHECK_THAT(printed, Catch::Contains("skipped batch_size.png"));
}

TEST_CASE("plot/a missing run directory or matplotlib is a clear error", "[report][plot]") {
  TempDir log("plot_errors");
  CHECK(run_plot("/nonexistent/run", log.path()) != 0);
  CHECK_THAT(read_text(log.path() / "stderr.txt"), Catch::Contains("/nonexistent/run: not a directory"));

  // A matplotlib that fails to import stands in for an interpreter without it.
  fs::create_directories(log.path() / "fake" / "matplotlib");
  std::ofstream(log.path() / "fake" / "matplotlib" / "__init__.py")
      << "raise ImportError(\"No module named 'matplotlib'\", name='matplotlib')\n";
  CHECK(run_plot("/nonexistent/run", log.path(), "PYTHONPATH=" + (log.path() / "fake").string()) != 0);
  std::string message = read_text(log.path() / "stderr.txt");
  CHECK_THAT(message, Catch::Contains("'matplotlib' is not available"));
  CHECK_THAT(message, Catch::Contains("/usr/bin/python3"));
  CHECK_THAT(message, Catch::Contains("python3-matplotlib"));
}
