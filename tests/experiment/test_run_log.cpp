// Run log: documented columns, identifying columns on every row, atomic status, rebuilt trials.csv.
#include "experiment/run_log.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "core/version.hpp"
#include "support/temp_dir.hpp"

using namespace bnlab;
using namespace bnlab::experiment;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Splits a CSV line without quoted cells (the tests avoid them except where they check quoting).
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

TrialSpec trial(const std::string& variant, double lr, std::uint64_t seed) {
  TrialSpec t;
  t.variant = variant;
  t.seed = seed;
  t.swept = {{"train.optimizer.lr", lr}};
  t.id = variant + "__lr=" + nlohmann::json(lr).dump() + "__seed=" + std::to_string(seed);
  t.resolved = {{"variant", variant}, {"lr", lr}, {"seed", seed}};
  return t;
}

Experiment three_trials() {
  Experiment e;
  e.name = "log-test";
  e.given = {{"name", "log-test"}};
  e.swept_keys = {"train.optimizer.lr"};
  e.trials = {trial("plain", 0.1, 1), trial("batchnorm", 0.1, 1), trial("batchnorm", 1.0, 1)};
  return e;
}

EpochReport epoch_report(int epoch, bool with_train) {
  EpochReport r;
  r.epoch = epoch;
  r.epochs = 2;
  r.step = epoch * 10;
  if (with_train) r.rows.push_back({epoch, "train", 0.5, 0.8, 0.1, 1.0, 256, 2.5});
  r.rows.push_back({epoch, "test", 0.6, 0.75, 0.1, 0.5, 512, std::nullopt});
  r.rows.push_back({epoch, "probe_train_mode", 0.55, 0.8, 0.1, 0.1, 640, std::nullopt});
  r.rows.push_back({epoch, "probe_eval_mode", 0.58, 0.7, 0.1, 0.1, 640, std::nullopt});
  LayerStats dense;
  dense.layer = "0.dense";
  dense.has_params = true;
  dense.grad_norm = 0.25;
  dense.weight_norm = 3;
  LayerStats relu;
  relu.layer = "1.relu";
  r.layers = {dense, relu};
  return r;
}

}  // namespace

TEST_CASE("run_log/trial files have the documented columns", "[runner][run_log]") {
  test::TempDir dir;
  const Experiment e = three_trials();
  const RunEnvironment env = current_environment(1, 1, "");
  write_experiment_json(dir.path(), e, env);
  const TrialSpec& t = e.trials[2];
  {
    TrialLog log(dir.path(), t, e.swept_keys, env);
    TrialInfo info;
    info.trial = t.id;
    log.on_start(info);
    log.on_epoch(epoch_report(0, false));
    log.on_step({10, 1, 0.4, 0.75, 0.1});
    log.on_epoch(epoch_report(1, true));
    // Rows are on disk after every epoch, before the trial ends.
    CHECK(lines_of(dir.path() / t.id / "epochs.csv").size() == 1 + 3 + 4);
    CHECK(read_status(dir.path() / t.id)->status == "running");
    CHECK(read_status(dir.path() / t.id)->epochs_done == 1);
    TrialSummary s;
    s.status = "done";
    s.epochs_run = 1;
    s.best_test_acc = 0.75;
    s.final_test_acc = 0.75;
    log.on_finish(s);
  }
  const fs::path td = dir.path() / t.id;
  const std::string ids = "trial,variant,seed,train.optimizer.lr";
  const std::string row_ids = t.id + ",batchnorm,1,1.0";
  auto epochs = lines_of(td / "epochs.csv");
  REQUIRE(epochs.size() == 8);
  CHECK(epochs[0] == ids + ",epoch,split,loss,acc,lr,seconds,samples_per_s,grad_norm");
  CHECK(epochs[1].rfind(row_ids + ",0,test,0.6,0.75,0.1,", 0) == 0);
  CHECK(epochs[4] == row_ids + ",1,train,0.5,0.8,0.1,1,256,2.5");
  CHECK(cells(epochs[5]).size() == 12);
  CHECK(cells(epochs[5]).back().empty());  // no grad_norm on a test row

  auto steps = lines_of(td / "steps.csv");
  REQUIRE(steps.size() == 2);
  CHECK(steps[0] == ids + ",step,epoch,loss,acc,lr");
  CHECK(steps[1] == row_ids + ",10,1,0.4,0.75,0.1");

  auto layers = lines_of(td / "layers.csv");
  REQUIRE(layers.size() == 5);
  CHECK(layers[0] ==
        ids +
            ",epoch,step,layer,act_mean,act_std,act_p15,act_p50,act_p85,unit,unit_p15,unit_p50,unit_p85,"
            "grad_norm,weight_norm");
  CHECK(cells(layers[3]).size() == cells(layers[0]).size());
  CHECK(cells(layers[3])[4] == "1");   // epoch
  CHECK(cells(layers[3])[5] == "10");  // step
  CHECK(cells(layers[3])[6] == "0.dense");
  CHECK(cells(layers[3]).back() == "3");
  CHECK(cells(layers[4]).back().empty());  // relu: no weights

  const auto status = read_status(td);
  REQUIRE(status);
  CHECK(status->status == "done");
  CHECK(status->trial == t.id);
  CHECK(status->epochs_done == 1);
  CHECK(nlohmann::json::parse(std::ifstream(td / "config.json")) == t.resolved);
  CHECK(read_summary(td)->best_test_acc == 0.75);
  for (const auto& entry : fs::directory_iterator(td))
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);

  const auto experiment_json = nlohmann::json::parse(std::ifstream(dir.path() / "experiment.json"));
  CHECK(experiment_json["name"] == "log-test");
  CHECK(experiment_json["bnlab_version"] == core::version());
  CHECK(experiment_json["git_revision"] == core::git_revision());
  CHECK(experiment_json["trials"].size() == 3);
  CHECK(experiment_json["trials"][2]["config"] == t.resolved);
  for (const char* key : {"threads", "host", "start_time", "config", "swept_keys"})
    CHECK(experiment_json.contains(key));
}

TEST_CASE("run_log/a new attempt replaces the rows of an interrupted one", "[runner][run_log]") {
  test::TempDir dir;
  const Experiment e = three_trials();
  const RunEnvironment env = current_environment(1, 1, "");
  write_experiment_json(dir.path(), e, env);
  {
    TrialLog log(dir.path(), e.trials[0], e.swept_keys, env);
    log.on_epoch(epoch_report(0, false));
    log.on_epoch(epoch_report(1, true));
  }  // no on_finish: the process "died"
  CHECK(read_status(dir.path() / e.trials[0].id)->status == "running");
  {
    TrialLog log(dir.path(), e.trials[0], e.swept_keys, env);
    log.on_epoch(epoch_report(0, false));
    log.fail("boom, with a comma");
  }
  CHECK(lines_of(dir.path() / e.trials[0].id / "epochs.csv").size() == 4);
  const auto status = read_status(dir.path() / e.trials[0].id);
  CHECK(status->status == "failed");
  CHECK(status->error == "boom, with a comma");
  // A cell with a comma is quoted (RFC 4180), so the table keeps its columns.
  rebuild_trials_csv(dir.path());
  const auto rows = lines_of(dir.path() / "trials.csv");
  REQUIRE(rows.size() == 4);
  const std::string quoted = ",\"boom, with a comma\"";
  REQUIRE(rows[1].size() > quoted.size());
  CHECK(rows[1].substr(rows[1].size() - quoted.size()) == quoted);
}

TEST_CASE("run_log/experiment.json guards the run directory", "[runner][run_log]") {
  test::TempDir dir;
  Experiment e = three_trials();
  const RunEnvironment env = current_environment(2, 1, "1/2");
  write_experiment_json(dir.path(), e, env);
  CHECK_NOTHROW(write_experiment_json(dir.path(), e, current_environment(1, 1, "2/2")));  // another shard
  e.trials[0].resolved["lr"] = 0.3;
  CHECK_THROWS_WITH(write_experiment_json(dir.path(), e, env),
                    Catch::Contains("different experiment") && Catch::Contains("--out"));
}

TEST_CASE("run_log/trials.csv is rebuilt from the trial folders", "[runner][run_log]") {
  test::TempDir dir;
  const Experiment e = three_trials();
  const RunEnvironment env = current_environment(1, 1, "");
  write_experiment_json(dir.path(), e, env);
  {
    TrialLog log(dir.path(), e.trials[0], e.swept_keys, env);
    TrialSummary s;
    s.status = "done";
    s.epochs_run = 2;
    s.best_test_acc = 0.9;
    s.best_epoch = 2;
    s.final_test_acc = 0.875;
    s.epochs_to_target = 1;
    s.steps_to_target = 8;
    s.seconds = 1.5;
    s.parameters = 100;
    s.dataset = "synthetic";
    s.dataset_source = "generated; 4 classes";
    log.on_finish(s);
  }
  {
    TrialLog log(dir.path(), e.trials[2], e.swept_keys, env);
    TrialSummary s;
    s.status = "diverged";
    s.diverged_at_step = 3;
    s.final_train_loss = std::nan("");
    log.on_finish(s);
  }
  rebuild_trials_csv(dir.path());
  const auto rows = lines_of(dir.path() / "trials.csv");
  REQUIRE(rows.size() == 4);
  const auto header = cells(rows[0]);
  CHECK(
      joined(header) ==
      "trial,variant,seed,train.optimizer.lr,status,epochs_run,best_test_acc,best_epoch,final_test_acc,"
      "final_test_loss,final_train_acc,final_train_loss,probe_train_mode_acc,probe_eval_mode_acc,"
      "epochs_to_target,steps_to_target,diverged_at_step,seconds,seconds_per_epoch,samples_per_s,parameters,"
      "dataset,dataset_source,train_samples,test_samples,error");
  const auto col = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  const auto done = cells(rows[1]);
  REQUIRE(done.size() == header.size());
  CHECK(done[0] == e.trials[0].id);
  CHECK(done[col("status")] == "done");
  CHECK(done[col("best_test_acc")] == "0.9");
  CHECK(done[col("epochs_to_target")] == "1");
  CHECK(done[col("diverged_at_step")].empty());
  CHECK(done[col("train.optimizer.lr")] == "0.1");
  const auto pending = cells(rows[2]);
  REQUIRE(pending.size() == header.size());
  CHECK(pending[col("status")] == "pending");
  const auto diverged = cells(rows[3]);
  CHECK(diverged[col("status")] == "diverged");
  CHECK(diverged[col("diverged_at_step")] == "3");
  CHECK(diverged[col("final_train_loss")].empty());  // nan is not a summary value
}

TEST_CASE("run_log/concurrent rebuilds never leave a torn trials.csv", "[runner][run_log]") {
  test::TempDir dir;
  const Experiment e = three_trials();
  const RunEnvironment env = current_environment(1, 1, "");
  write_experiment_json(dir.path(), e, env);
  rebuild_trials_csv(dir.path());
  const std::size_t lines = lines_of(dir.path() / "trials.csv").size();
  // Four processes rebuild over and over while this one reads: every read sees a whole table.
  std::vector<pid_t> children;
  for (int c = 0; c < 4; ++c) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
        for (int i = 0; i < 100; ++i) rebuild_trials_csv(dir.path());
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  std::size_t torn = 0;
  for (int i = 0; i < 300; ++i) {
    const auto rows = lines_of(dir.path() / "trials.csv");
    if (rows.size() != lines) ++torn;
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(torn == 0);
  for (const auto& entry : fs::directory_iterator(dir.path()))
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("run_log/finished statuses", "[runner][run_log]") {
  CHECK(is_finished("done"));
  CHECK(is_finished("diverged"));
  CHECK_FALSE(is_finished("failed"));
  CHECK_FALSE(is_finished("running"));
  CHECK_FALSE(is_finished("pending"));
}
