// Runner: whole sweeps on synthetic data — files, determinism, resume after SIGKILL, divergence,
// parallel jobs, shards, fail-fast, the run-directory guard and the `bnlab run` command itself.
#include "experiment/runner.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "experiment/run_log.hpp"
#include "support/synthetic_trial.hpp"
#include "support/temp_dir.hpp"

using namespace bnlab;
using namespace bnlab::experiment;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A CSV file's rows without its timing columns, which legitimately differ between runs.
std::vector<std::string> untimed_rows(const fs::path& p) {
  const auto lines = lines_of(p);
  REQUIRE_FALSE(lines.empty());
  const auto header = split(lines[0]);
  std::vector<std::string> out;
  for (const auto& line : lines) {
    const auto cells = split(line);
    REQUIRE(cells.size() == header.size());
    std::string kept;
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (header[i] != "seconds" && header[i] != "samples_per_s") kept += cells[i] + ",";
    out.push_back(kept);
  }
  return out;
}

RunOptions options_for(const fs::path& dir, int jobs = 1, int threads = 1) {
  RunOptions o;
  o.out_dir = dir;
  o.jobs = jobs;
  o.threads = threads;
  return o;
}

std::string status_of(const fs::path& run, const std::string& trial) {
  const auto s = read_status(trial_dir(run, trial));
  return s ? s->status : "none";
}

Experiment lr_sweep(std::vector<double> lrs, int epochs = 2) {
  json c = test::synthetic_config(epochs);
  c["variants"] = {{"plain", {{"norm", "none"}}}};
  c["sweep"] = {{"train.optimizer.lr", lrs}};
  c["seeds"] = {1};
  return parse_experiment(c);
}

}  // namespace

TEST_CASE("runner/end-to-end run writes every documented file", "[runner]") {
  test::TempDir dir;
  const Experiment e = parse_experiment(test::synthetic_config(2));
  REQUIRE(e.trials.size() == 4);
  std::ostringstream out;
  Console console(out, false);
  const RunResult r = run_experiment(e, options_for(dir.path()), &console);
  CHECK(r.done == 4);
  CHECK(r.all_finished());
  CHECK(r.exit_status() == 0);

  const auto experiment_json = json::parse(std::ifstream(dir.path() / "experiment.json"));
  CHECK(experiment_json["name"] == "synthetic-test");
  CHECK(experiment_json["trials"].size() == 4);
  const auto trials = lines_of(dir.path() / "trials.csv");
  REQUIRE(trials.size() == 5);
  CHECK(trials[0].rfind("trial,variant,seed,status,epochs_run,best_test_acc,", 0) == 0);
  for (const auto& t : e.trials) {
    const fs::path td = trial_dir(dir.path(), t.id);
    for (const char* f :
         {"config.json", "epochs.csv", "steps.csv", "layers.csv", "status.json", "summary.json"})
      CHECK(fs::exists(td / f));
    CHECK(status_of(dir.path(), t.id) == "done");
    const auto epochs = lines_of(td / "epochs.csv");
    CHECK(epochs[0] == "trial,variant,seed,epoch,split,loss,acc,lr,seconds,samples_per_s,grad_norm");
    CHECK(epochs.size() == 1 + 3 + 2 * 4);  // epoch 0: test + 2 probes; then 4 rows per epoch
    for (std::size_t i = 1; i < epochs.size(); ++i)
      CHECK(epochs[i].rfind(t.id + "," + t.variant + ",", 0) == 0);
    CHECK(lines_of(td / "steps.csv")[0] == "trial,variant,seed,step,epoch,loss,acc,lr");
    CHECK(lines_of(td / "layers.csv")[0].rfind("trial,variant,seed,epoch,step,layer,act_mean,", 0) == 0);
    CHECK(lines_of(td / "layers.csv").size() > 1);
    CHECK(json::parse(std::ifstream(td / "config.json")) == t.resolved);
  }
  // Console: a plain line per epoch and trial (not a terminal), then the comparison table.
  const std::string text = out.str();
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find("epoch 2/2") != std::string::npos);
  CHECK(text.find("best test acc") != std::string::npos);
  CHECK(text.find("batchnorm") != std::string::npos);
}

TEST_CASE("runner/same config and seed give identical epochs.csv", "[runner]") {
  test::TempDir a, b;
  json c = test::synthetic_config(2);
  c["model"]["layers"].push_back({{"type", "dropout"}, {"rate", 0.2}});  // masks must follow the seed too
  const Experiment e = parse_experiment(c);
  run_experiment(e, options_for(a.path()), nullptr);
  run_experiment(e, options_for(b.path()), nullptr);
  for (const auto& t : e.trials) {
    CHECK(untimed_rows(trial_dir(a.path(), t.id) / "epochs.csv") ==
          untimed_rows(trial_dir(b.path(), t.id) / "epochs.csv"));
    CHECK(untimed_rows(trial_dir(a.path(), t.id) / "layers.csv") ==
          untimed_rows(trial_dir(b.path(), t.id) / "layers.csv"));
  }
}

TEST_CASE("runner/--jobs 2 gives the same results as --jobs 1", "[runner]") {
  test::TempDir one, two;
  const Experiment e = parse_experiment(test::synthetic_config(2));
  std::ostringstream out;
  Console console(out, false);
  const RunResult r1 = run_experiment(e, options_for(one.path(), 1, 1), nullptr);
  const RunResult r2 = run_experiment(e, options_for(two.path(), 2, 2), &console);  // 1 thread per job
  CHECK(r1.done == 4);
  CHECK(r2.done == 4);
  for (const auto& t : e.trials)
    CHECK(untimed_rows(trial_dir(one.path(), t.id) / "epochs.csv") ==
          untimed_rows(trial_dir(two.path(), t.id) / "epochs.csv"));
  // Progress from the child processes reached the console through the pipes.
  CHECK(out.str().find("epoch 2/2") != std::string::npos);
}

TEST_CASE("runner/a huge learning rate diverges while the other trials finish", "[runner]") {
  test::TempDir dir;
  const Experiment e = lr_sweep({0.1, 1e6, 0.05});
  const RunResult r = run_experiment(e, options_for(dir.path(), 2, 2), nullptr);
  CHECK(r.done == 2);
  CHECK(r.diverged == 1);
  CHECK(r.exit_status() == 0);  // divergence is a finished, measured outcome
  const auto records = read_logged_trials(dir.path());
  REQUIRE(records.size() == 3);
  CHECK(records[0].status == "done");
  CHECK(records[1].status == "diverged");
  REQUIRE(records[1].summary);
  CHECK(records[1].summary->diverged_at_step.value_or(0) > 0);
  CHECK(records[2].status == "done");
  const auto rows = lines_of(dir.path() / "trials.csv");
  REQUIRE(rows.size() == 4);
  CHECK(rows[2].find(",diverged,") != std::string::npos);
}

TEST_CASE("runner/resume after a killed run duplicates no rows", "[runner]") {
  test::TempDir dir;
  json c = test::synthetic_config(6);
  c["seeds"] = {1, 2, 3, 4, 5, 6};
  c["data"]["synthetic"]["train"] = 1024;
  const Experiment e = parse_experiment(c);
  REQUIRE(e.trials.size() == 12);

  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      run_experiment(e, options_for(dir.path()), nullptr);
    } catch (...) {
    }
    _exit(0);
  }
  // Kill the sweep as soon as its first trial has finished, while the next one is mid-way.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::size_t finished_at_kill = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    finished_at_kill = 0;
    for (const auto& t : e.trials) {
      try {
        if (is_finished(status_of(dir.path(), t.id))) ++finished_at_kill;
      } catch (const Error&) {
      }
    }
    if (finished_at_kill > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGKILL);
  int wait_status = 0;
  waitpid(pid, &wait_status, 0);
  REQUIRE(WIFSIGNALED(wait_status));
  REQUIRE(finished_at_kill > 0);
  REQUIRE(finished_at_kill < e.trials.size());

  // Without --resume the directory is refused; with it, finished trials are skipped.
  CHECK_THROWS_WITH(run_experiment(e, options_for(dir.path()), nullptr),
                    Catch::Contains("--resume") && Catch::Contains("--out"));
  RunOptions resume = options_for(dir.path());
  resume.resume = true;
  const RunResult r = run_experiment(e, resume, nullptr);
  CHECK(r.skipped >= finished_at_kill);
  CHECK(r.skipped + r.done == e.trials.size());
  CHECK(r.exit_status() == 0);
  for (const auto& t : e.trials) {
    CHECK(status_of(dir.path(), t.id) == "done");
    const auto rows = lines_of(trial_dir(dir.path(), t.id) / "epochs.csv");
    std::set<std::string> keys;
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const auto cells = split(rows[i]);
      CHECK(keys.insert(cells[3] + "/" + cells[4]).second);  // (epoch, split) once
    }
    CHECK(rows.size() == 1 + 3 + 4 * 6);
  }
  const auto trials = lines_of(dir.path() / "trials.csv");
  CHECK(trials.size() == 1 + e.trials.size());
}

TEST_CASE("runner/shard slices union to the full run", "[runner]") {
  test::TempDir sharded, full;
  const Experiment e = parse_experiment(test::synthetic_config(1));
  std::multiset<std::string> ran;
  for (std::size_t i = 0; i < 3; ++i) {
    RunOptions o = options_for(sharded.path());
    o.shard = Shard{i, 3};
    const RunResult r = run_experiment(e, o, nullptr);  // shards share the directory without --resume
    CHECK(r.exit_status() == 0);
    for (const auto& t : select_shard(e.trials, i, 3)) ran.insert(t.id);
  }
  run_experiment(e, options_for(full.path()), nullptr);
  CHECK(ran.size() == e.trials.size());
  for (const auto& t : e.trials) {
    CHECK(ran.count(t.id) == 1);
    CHECK(status_of(sharded.path(), t.id) == "done");
    CHECK(untimed_rows(trial_dir(sharded.path(), t.id) / "epochs.csv") ==
          untimed_rows(trial_dir(full.path(), t.id) / "epochs.csv"));
  }
  for (const auto& rec : read_logged_trials(sharded.path())) CHECK(rec.status == "done");
}

TEST_CASE("runner/a failed trial is reported and the rest go on unless --fail-fast", "[runner]") {
  Experiment e = lr_sweep({0.1, 0.2, 0.3}, 1);
  e.trials[0].layers[1]["units"] = 0;  // the model cannot be built: this trial fails
  for (int jobs : {1, 2}) {
    test::TempDir dir;
    std::ostringstream out;
    Console console(out, false);
    const RunResult r = run_experiment(e, options_for(dir.path(), jobs, jobs), &console);
    CHECK(r.failed == 1);
    CHECK(r.done == 2);
    CHECK(r.exit_status() == 1);
    const auto status = read_status(trial_dir(dir.path(), e.trials[0].id));
    REQUIRE(status);
    CHECK(status->status == "failed");
    CHECK(status->error.find("units") != std::string::npos);
    CHECK(out.str().find("FAILED") != std::string::npos);
  }
  test::TempDir dir;
  RunOptions o = options_for(dir.path());
  o.fail_fast = true;
  const RunResult r = run_experiment(e, o, nullptr);
  CHECK(r.failed == 1);
  CHECK(r.not_run == 2);
  CHECK(r.exit_status() == 1);
  CHECK(status_of(dir.path(), e.trials[1].id) == "pending");
}

TEST_CASE("runner/a directory holding another experiment is refused", "[runner]") {
  test::TempDir dir;
  run_experiment(lr_sweep({0.1}, 1), options_for(dir.path()), nullptr);
  CHECK_THROWS_WITH(run_experiment(lr_sweep({0.2}, 1), options_for(dir.path()), nullptr),
                    Catch::Contains("different experiment"));
}

TEST_CASE("runner/shard arguments and Slurm array variables", "[runner]") {
  CHECK(parse_shard("1/1").index == 0);
  CHECK(parse_shard("2/8").index == 1);
  CHECK(parse_shard("8/8").count == 8);
  CHECK(parse_shard("3/8").text() == "3/8");
  for (const char* bad : {"0/8", "9/8", "1/0", "2", "a/b", "-1/4", "1/2/3"})
    CHECK_THROWS_WITH(parse_shard(bad), Catch::Contains("--shard"));

  const auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  CHECK_FALSE(shard_from_environment(env({})).has_value());
  // --array=0-7: task ids 0..7 are shards 1..8.
  auto s = shard_from_environment(
      env({{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "8"}, {"SLURM_ARRAY_TASK_MIN", "0"}}));
  REQUIRE(s);
  CHECK(s->index == 3);
  CHECK(s->count == 8);
  // --array=1-8: task id 8 is the last shard.
  s = shard_from_environment(
      env({{"SLURM_ARRAY_TASK_ID", "8"}, {"SLURM_ARRAY_TASK_COUNT", "8"}, {"SLURM_ARRAY_TASK_MIN", "1"}}));
  CHECK(s->index == 7);
  // --array=0-6:2 (0, 2, 4, 6): task 4 is the third shard of four.
  s = shard_from_environment(env({{"SLURM_ARRAY_TASK_ID", "4"},
                                  {"SLURM_ARRAY_TASK_COUNT", "4"},
                                  {"SLURM_ARRAY_TASK_MIN", "0"},
                                  {"SLURM_ARRAY_TASK_STEP", "2"}}));
  CHECK(s->index == 2);
  // Without MIN the id is taken as 0-based.
  s = shard_from_environment(env({{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "2"}}));
  CHECK(s->index == 0);
  CHECK_THROWS_AS(shard_from_environment(env({{"SLURM_ARRAY_TASK_ID", "3"}})), ConfigError);
  CHECK_THROWS_AS(
      shard_from_environment(env(
          {{"SLURM_ARRAY_TASK_ID", "9"}, {"SLURM_ARRAY_TASK_COUNT", "8"}, {"SLURM_ARRAY_TASK_MIN", "0"}})),
      ConfigError);
}

TEST_CASE("runner/bnlab run command", "[runner][cli]") {
  test::TempDir dir;
  const fs::path config = dir.path() / "config.json";
  json c = test::synthetic_config(1);
  c["seeds"] = {1};
  std::ofstream(config) << c.dump(2);
  const fs::path out = dir.path() / "run";
  const fs::path log = dir.path() / "log.txt";
  const auto bnlab = [&](const std::string& args) {
    const std::string cmd =
        std::string(BNLAB_BINARY) + " run " + config.string() + " " + args + " > " + log.string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const auto logged = [&] {
    std::ifstream in(log);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(bnlab("--out " + out.string() + " --threads 1 --set train.epochs=2") == 0);
  CHECK(logged().find("2 done, 0 diverged, 0 failed of 2 trials") != std::string::npos);
  CHECK(lines_of(out / "trials.csv").size() == 3);
  CHECK(json::parse(std::ifstream(out / "experiment.json"))["config"]["train"]["epochs"] == 2);
  // A second run into the same directory must be told what to do.
  CHECK(bnlab("--out " + out.string() + " --threads 1 --set train.epochs=2") == 2);
  CHECK(logged().find("--resume") != std::string::npos);
  CHECK(bnlab("--out " + out.string() + " --threads 1 --set train.epochs=2 --resume") == 0);
  CHECK(logged().find("2 skipped") != std::string::npos);
  CHECK(bnlab("--out " + out.string() + " --shard 3/2") == 2);
  CHECK(logged().find("--shard") != std::string::npos);
}
