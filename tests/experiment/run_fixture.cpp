// Run-directory fixtures: every file a run writes, with values chosen so the expected report is known.
#include "experiment/run_fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "experiment/run_log.hpp"

namespace bnlab::test {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("fixture: cannot write " + path.string());
  out << text;
}

std::string join(const std::vector<std::string>& cells) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) line += (i ? "," : "") + cells[i];
  return line + "\n";
}

std::string value_text(const FixtureTrial& t, const std::string& key) {
  if (key == "train.optimizer.lr") return num(t.lr);
  if (key == "train.batch_size") return std::to_string(t.batch_size);
  throw std::runtime_error("fixture: unsupported swept key " + key);
}

json value_json(const FixtureTrial& t, const std::string& key) {
  if (key == "train.optimizer.lr") return t.lr;
  return t.batch_size;
}

std::vector<std::string> ids(const FixtureTrial& t, const std::vector<std::string>& keys) {
  std::vector<std::string> cells = {t.id(keys), t.variant, std::to_string(t.seed)};
  for (const auto& k : keys) cells.push_back(value_text(t, k));
  return cells;
}

std::vector<std::string> layer_names(const FixtureTrial& t) {
  std::vector<std::string> types = {"flatten", "dense"};
  if (t.norm == "batch") types.push_back("batchnorm");
  types.push_back("relu");
  if (t.dropout > 0) types.push_back("dropout");
  types.push_back("dense");
  std::vector<std::string> names;
  for (std::size_t i = 0; i < types.size(); ++i) names.push_back(std::to_string(i) + "." + types[i]);
  return names;
}

json trial_config(const FixtureTrial& t, const RunFixture& run) {
  json swept = json::object();
  for (const auto& k : run.swept_keys) swept[k] = value_json(t, k);
  json cfg = {
      {"name", run.name},
      {"data", {{"dataset", "synthetic"}}},
      {"train",
       {{"epochs", t.epochs}, {"batch_size", t.batch_size}, {"optimizer", {{"type", "sgd"}, {"lr", t.lr}}}}},
      {"metrics", {{"target_accuracy", run.target ? json(*run.target) : json(nullptr)}}},
      {"seeds", {t.seed}}};
  cfg["trial"] = {{"id", t.id(run.swept_keys)},
                  {"variant", t.variant},
                  {"seed", t.seed},
                  {"swept", swept},
                  {"norm", t.norm},
                  {"dropout", t.dropout}};
  return cfg;
}

// Completed epochs whose rows are in epochs.csv.
int logged_epochs(const FixtureTrial& t) {
  if (t.status == "done") return t.epochs;
  if (t.status == "running") return t.epochs_done;
  return 0;  // diverged in epoch 1, or failed before it ended
}

void write_trial_folder(const FixtureTrial& t, const RunFixture& run) {
  const fs::path dir = run.dir / t.id(run.swept_keys);
  fs::create_directories(dir);
  write_file(dir / "config.json", trial_config(t, run).dump(2));
  const auto id = ids(t, run.swept_keys);
  std::vector<std::string> id_header = {"trial", "variant", "seed"};
  id_header.insert(id_header.end(), run.swept_keys.begin(), run.swept_keys.end());

  auto header = [&](std::vector<std::string> cols) {
    std::vector<std::string> h = id_header;
    h.insert(h.end(), cols.begin(), cols.end());
    return join(h);
  };
  auto row = [&](std::vector<std::string> cells) {
    std::vector<std::string> r = id;
    r.insert(r.end(), cells.begin(), cells.end());
    return join(r);
  };

  std::string epochs =
      header({"epoch", "split", "loss", "acc", "lr", "seconds", "samples_per_s", "grad_norm"});
  std::string layers =
      header({"epoch", "step", "layer", "act_mean", "act_std", "act_p15", "act_p50", "act_p85", "unit",
              "unit_p15", "unit_p50", "unit_p85", "grad_norm", "weight_norm"});
  std::string steps = header({"step", "epoch", "loss", "acc", "lr"});
  const int last = logged_epochs(t);
  for (int e = 0; e <= last; ++e) {
    double test = t.test_acc(e), train = std::min(1.0, test + t.gap);
    if (e > 0)
      epochs += row({std::to_string(e), "train", num(1.0 - train), num(train), num(t.lr), "2", "1000",
                     num(1.0 + 0.1 * e)});
    epochs += row({std::to_string(e), "test", num(1.1 - test), num(test), num(t.lr), "0.5", "4000", ""});
    double probe_train = e > 0 ? train : test;
    epochs += row({std::to_string(e), "probe_train_mode", num(1.0 - probe_train), num(probe_train), num(t.lr),
                   "0.1", "5000", ""});
    epochs += row({std::to_string(e), "probe_eval_mode", num(1.0 - probe_train + t.eval_gap),
                   num(probe_train - t.eval_gap), num(t.lr), "0.1", "5000", ""});
    long step = e * t.steps_per_epoch;
    auto names = layer_names(t);
    for (std::size_t l = 0; l < names.size(); ++l) {
      bool normalized = names[l].find("batchnorm") != std::string::npos;
      bool has_params = names[l].find("dense") != std::string::npos || normalized;
      // Without BN the unit's distribution drifts over training; after BN it stays put (Ioffe Fig. 1).
      double center = normalized ? 0.0 : 0.3 * e * (1.0 + l);
      double width = normalized ? 1.0 : 1.0 + 0.5 * e;
      layers += row({std::to_string(e), std::to_string(step), names[l], num(center), num(width),
                     num(center - width), num(center), num(center + width), "0", num(center - width),
                     num(center), num(center + width), has_params ? num(0.5 / (1.0 + e) * (1.0 + l)) : "",
                     has_params ? num(3.0 + e) : ""});
    }
    if (e > 0)
      for (long s = (e - 1) * t.steps_per_epoch + 5; s <= e * t.steps_per_epoch; s += 5)
        steps += row({std::to_string(s), std::to_string(e), num(1.0 - train), num(train), num(t.lr)});
  }
  // A diverged trial's partial epoch has a train row only, its loss showing the blow-up.
  if (t.status == "diverged") epochs += row({"1", "train", "inf", "0.1", num(t.lr), "0.2", "1000", "inf"});
  write_file(dir / "epochs.csv", epochs);
  write_file(dir / "layers.csv", layers);
  write_file(dir / "steps.csv", steps);

  json status = {{"trial", t.id(run.swept_keys)},
                 {"status", t.status},
                 {"error", t.error},
                 {"epochs_done", last},
                 {"updated", "2024-01-01T00:00:00Z"}};
  if (t.status == "diverged") status["diverged_at_step"] = t.diverged_at_step;
  write_file(dir / "status.json", status.dump(2));
}

// The trials.csv cells after the ids, as the runner computes them.
std::vector<std::string> summary_cells(const FixtureTrial& t, const RunFixture& run) {
  std::vector<std::string> c(22);
  c[0] = t.status;
  if (t.status == "pending" || t.status == "running") return c;
  const int last = logged_epochs(t);
  c[1] = std::to_string(last);
  if (t.status == "done") {
    double train = std::min(1.0, t.final_acc + t.gap);
    c[2] = num(t.final_acc);
    c[3] = std::to_string(t.epochs);
    c[4] = num(t.final_acc);
    c[5] = num(1.1 - t.final_acc);
    c[6] = num(train);
    c[7] = num(1.0 - train);
    c[8] = num(train);
    c[9] = num(train - t.eval_gap);
    if (run.target)
      for (int e = 0; e <= t.epochs; ++e)
        if (t.test_acc(e) >= *run.target) {
          c[10] = std::to_string(e);
          c[11] = std::to_string(e * t.steps_per_epoch);
          break;
        }
    c[14] = "2.7";  // train 2 + test 0.5 + probes 0.1 + 0.1
    c[15] = "1000";
  }
  if (t.status == "diverged") c[12] = std::to_string(t.diverged_at_step);
  c[13] = num(2.0 * last + 0.5);
  c[16] = "1000";
  c[17] = "synthetic";
  c[18] = "generated";
  c[19] = std::to_string(t.steps_per_epoch * t.batch_size);
  c[20] = "200";
  c[21] = t.error;
  return c;
}

}  // namespace

double FixtureTrial::test_acc(int epoch) const {
  if (epoch == 0) return 0.1;
  int back = epochs - epoch;
  if (back == 0) return final_acc;
  if (back == 1) return final_acc - 0.05;
  return final_acc - 0.2 - 0.05 * (back - 2);
}

std::string FixtureTrial::id(const std::vector<std::string>& swept_keys) const {
  std::string text = variant;
  for (const auto& k : swept_keys) text += "__" + k.substr(k.rfind('.') + 1) + "=" + value_text(*this, k);
  return text + "__seed=" + std::to_string(seed);
}

void RunFixture::write() const {
  fs::create_directories(dir);
  json variants = json::object();
  json seeds = json::array();
  json sweep = json::object();
  json plan = json::array();
  for (const FixtureTrial& t : trials) {
    variants[t.variant] = {{"norm", t.norm}, {"dropout", t.dropout}};
    if (std::find(seeds.begin(), seeds.end(), json(t.seed)) == seeds.end()) seeds.push_back(t.seed);
    for (const auto& k : swept_keys) {
      if (!sweep.contains(k)) sweep[k] = json::array();
      if (std::find(sweep[k].begin(), sweep[k].end(), value_json(t, k)) == sweep[k].end())
        sweep[k].push_back(value_json(t, k));
    }
    json swept = json::object();
    for (const auto& k : swept_keys) swept[k] = value_json(t, k);
    plan.push_back({{"id", t.id(swept_keys)},
                    {"variant", t.variant},
                    {"seed", t.seed},
                    {"swept", swept},
                    {"config", trial_config(t, *this)}});
  }
  json config = {
      {"name", name},         {"data", {{"dataset", "synthetic"}}},
      {"variants", variants}, {"sweep", sweep},
      {"seeds", seeds},       {"metrics", {{"target_accuracy", target ? json(*target) : json(nullptr)}}}};
  json experiment = {
      {"name", name}, {"config", config}, {"swept_keys", swept_keys}, {"bnlab_version", "test"}};
  if (write_plan) experiment["trials"] = plan;
  write_file(dir / "experiment.json", experiment.dump(2));

  // The runner's own column list, so the fixture follows any change to the format.
  const std::vector<std::string> header = experiment::trials_csv_header(swept_keys);
  std::string csv = join(header);
  for (const FixtureTrial& t : trials) {
    if (t.status == "absent") continue;
    if (t.status != "pending") write_trial_folder(t, *this);
    std::vector<std::string> cells = ids(t, swept_keys);
    for (auto& c : summary_cells(t, *this)) cells.push_back(c);
    csv += join(cells);
  }
  if (write_trials_csv) write_file(dir / "trials.csv", csv);
}

RunFixture bn_vs_dropout_fixture(const fs::path& dir) {
  RunFixture run;
  run.dir = dir;
  struct Row {
    const char* variant;
    const char* norm;
    double dropout, lr, accs[3], gap0, eval_gap0;
    bool diverged;
  };
  // Final test accuracies per seed. Gaps rise per seed from gap0: by 0.02 for plain (std 0.02), by 0.01
  // otherwise (std 0.01); the eval gap rises by 0.01 per seed from eval_gap0.
  const Row rows[] = {
      {"plain", "none", 0.0, 0.01, {0.70, 0.72, 0.74}, 0.10, 0.0, false},
      {"plain", "none", 0.0, 0.1, {0.80, 0.82, 0.84}, 0.10, 0.0, false},
      {"plain", "none", 0.0, 1.0, {0, 0, 0}, 0, 0, true},
      {"batchnorm", "batch", 0.0, 0.01, {0.78, 0.80, 0.82}, 0.03, 0.01, false},
      {"batchnorm", "batch", 0.0, 0.1, {0.86, 0.87, 0.88}, 0.03, 0.01, false},
      {"batchnorm", "batch", 0.0, 1.0, {0.89, 0.90, 0.91}, 0.03, 0.01, false},
      {"dropout", "none", 0.5, 0.01, {0.70, 0.71, 0.72}, 0.01, 0.0, false},
      {"dropout", "none", 0.5, 0.1, {0.86, 0.87, 0.88}, 0.01, 0.0, false},
      {"dropout", "none", 0.5, 1.0, {0, 0, 0}, 0, 0, true},
      {"bn+dropout", "batch", 0.2, 0.01, {0.77, 0.78, 0.79}, 0.02, 0.04, false},
      {"bn+dropout", "batch", 0.2, 0.1, {0.85, 0.86, 0.87}, 0.02, 0.04, false},
      {"bn+dropout", "batch", 0.2, 1.0, {0.88, 0.89, 0.90}, 0.02, 0.04, false},
  };
  for (const Row& r : rows)
    for (int s = 0; s < 3; ++s) {
      FixtureTrial t;
      t.variant = r.variant;
      t.norm = r.norm;
      t.dropout = r.dropout;
      t.lr = r.lr;
      t.seed = static_cast<std::uint64_t>(s + 1);
      t.status = r.diverged ? "diverged" : "done";
      t.final_acc = r.accs[s];
      t.gap = r.gap0 + (std::string(r.variant) == "plain" ? 0.02 : 0.01) * s;
      t.eval_gap = r.eval_gap0 + 0.01 * s;
      run.trials.push_back(t);
    }
  return run;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace bnlab::test
