// Run-directory loading: every source is optional, so a partial or still-running sweep can be read.
#include "experiment/run_records.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

namespace bnlab::experiment {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

const char* const kIdColumns[] = {"trial", "variant", "seed"};

std::optional<double> parse_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE) return std::nullopt;
  return v;
}

template <class Json>
std::string canonical_json(const Json& v) {
  if (v.is_string()) return canonical_value(v.template get<std::string>());
  return canonical_value(v.dump());
}

template <class Json>
Json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw RunDirError(path.string() + ": cannot open file");
  try {
    return Json::parse(in);
  } catch (const std::exception& e) {
    throw RunDirError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

// The value at a dotted key path ("train.optimizer.lr"), or nullptr.
template <class Json>
const Json* at_path(const Json& root, const std::string& dotted) {
  const Json* node = &root;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = dotted.find('.', start);
    std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

template <class Json>
std::optional<double> number_at(const Json& root, const std::string& dotted) {
  const Json* v = at_path(root, dotted);
  if (v && v->is_number()) return v->template get<double>();
  return std::nullopt;
}

// experiment.json holds the config as given and resolved; its exact nesting is the runner's choice, so
// take the first object that looks like an experiment config.
const ordered_json* find_config(const ordered_json& root) {
  auto looks_like_config = [](const ordered_json& j) {
    return j.is_object() && (j.contains("variants") || j.contains("sweep") || j.contains("seeds"));
  };
  if (looks_like_config(root)) return &root;
  for (const char* key : {"resolved", "config", "given", "experiment"})
    if (root.contains(key) && looks_like_config(root[key])) return &root[key];
  for (const auto& item : root.items())
    if (looks_like_config(item.value())) return &item.value();
  return nullptr;
}

void add_unique(std::vector<std::string>& list, const std::string& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

long to_long(double v) {
  return static_cast<long>(std::llround(v));
}

void read_epochs(TrialRecord& t, const fs::path& path, RunRecords& run) {
  CsvTable csv = read_csv(path.string());
  if (csv.malformed_rows)
    run.notes.push_back(path.string() + ": skipped " + std::to_string(csv.malformed_rows) +
                        " incomplete row(s)");
  for (std::size_t r = 0; r < csv.size(); ++r) {
    EpochRow row;
    auto epoch = csv.number(r, "epoch");
    if (!epoch) continue;
    row.epoch = to_long(*epoch);
    row.split = csv.text(r, "split");
    row.loss = csv.number(r, "loss");
    row.acc = csv.number(r, "acc");
    row.lr = csv.number(r, "lr");
    row.seconds = csv.number(r, "seconds");
    row.samples_per_s = csv.number(r, "samples_per_s");
    row.grad_norm = csv.number(r, "grad_norm");
    t.epochs.push_back(std::move(row));
  }
}

void read_layer_steps(TrialRecord& t, const fs::path& path) {
  CsvTable csv = read_csv(path.string());
  for (std::size_t r = 0; r < csv.size(); ++r) {
    auto epoch = csv.number(r, "epoch");
    auto step = csv.number(r, "step");
    if (!epoch || !step) continue;
    long& s = t.steps_at_epoch_end[to_long(*epoch)];
    s = std::max(s, to_long(*step));
  }
}

// Fills every result the runner's summary did not provide from the epochs.csv rows, with the runner's
// definitions (docs/outputs.md): an epoch is complete once it has a test row (a diverged partial epoch has
// only a train row); best accuracy includes epoch 0; seconds per epoch sum the epoch's rows.
void derive_from_epochs(TrialRecord& t) {
  long last_complete = 0;
  std::optional<double> best;
  for (const EpochRow& row : t.epochs)
    if (row.split == "test") {
      last_complete = std::max(last_complete, row.epoch);
      if (row.acc) best = std::max(best.value_or(*row.acc), *row.acc);
    }
  std::map<long, double> seconds;  // complete epoch ≥ 1 → wall time of all its rows
  double samples_sum = 0;
  int samples_n = 0;
  for (const EpochRow& row : t.epochs) {
    if (row.epoch < 1 || row.epoch > last_complete) continue;
    if (row.seconds) seconds[row.epoch] += *row.seconds;
    if (row.split == "train" && row.samples_per_s) samples_sum += *row.samples_per_s, ++samples_n;
    if (row.epoch != last_complete) continue;
    if (row.split == "test" && !t.final_test_acc) t.final_test_acc = row.acc;
    if (row.split == "test" && !t.final_test_loss) t.final_test_loss = row.loss;
    if (row.split == "train" && !t.final_train_acc) t.final_train_acc = row.acc;
    if (row.split == "train" && !t.final_train_loss) t.final_train_loss = row.loss;
    if (row.split == "probe_train_mode" && !t.probe_train_mode_acc) t.probe_train_mode_acc = row.acc;
    if (row.split == "probe_eval_mode" && !t.probe_eval_mode_acc) t.probe_eval_mode_acc = row.acc;
  }
  if (!t.best_test_acc) t.best_test_acc = best;
  if (!t.epochs_run) t.epochs_run = last_complete;
  if (!t.seconds_per_epoch && !seconds.empty()) {
    double sum = 0;
    for (const auto& [epoch, s] : seconds) sum += s;
    t.seconds_per_epoch = sum / seconds.size();
  }
  if (!t.samples_per_s && samples_n) t.samples_per_s = samples_sum / samples_n;
}

std::string tuple_key(const std::string& variant,
                      const std::vector<std::pair<std::string, std::string>>& swept,
                      const std::string& seed) {
  std::string key = variant;
  for (const auto& [k, v] : swept) key += '\x1f' + k + '=' + v;
  return key + '\x1f' + seed;
}

// Identity and settings from a resolved trial config (config.json, or a plan entry's "config"): its
// "trial" object names the trial; the rest is the config the trial ran with.
template <class Json>
bool apply_trial_config(TrialRecord& t, const Json& cfg, std::vector<std::string>& swept_keys) {
  const Json* trial = at_path(cfg, std::string("trial"));
  if (!trial || !trial->is_object()) return false;
  if (trial->contains("id") && (*trial)["id"].is_string()) t.id = (*trial)["id"].template get<std::string>();
  if (trial->contains("variant") && (*trial)["variant"].is_string())
    t.variant = (*trial)["variant"].template get<std::string>();
  if (trial->contains("seed") && (*trial)["seed"].is_number())
    t.seed = (*trial)["seed"].template get<std::uint64_t>();
  if (trial->contains("swept") && (*trial)["swept"].is_object()) {
    const Json& swept = (*trial)["swept"];
    for (const auto& item : swept.items())
      if (std::find(swept_keys.begin(), swept_keys.end(), item.key()) == swept_keys.end())
        swept_keys.push_back(item.key());
    t.swept.clear();
    for (const std::string& key : swept_keys)
      if (swept.contains(key)) t.swept.emplace_back(key, canonical_json(swept[key]));
  }
  if (trial->contains("norm") && (*trial)["norm"].is_string())
    t.norm = (*trial)["norm"].template get<std::string>();
  if (trial->contains("dropout") && (*trial)["dropout"].is_number()) {
    t.dropout = (*trial)["dropout"].template get<double>();
    t.dropout_known = true;
  }
  t.lr = number_at(cfg, "train.optimizer.lr");
  t.batch_size = number_at(cfg, "train.batch_size");
  t.target_accuracy = number_at(cfg, "metrics.target_accuracy");
  if (auto drop_last = at_path(cfg, std::string("train.drop_last")); drop_last && drop_last->is_boolean())
    t.drop_last = drop_last->template get<bool>();
  return true;
}

// A trial's summary.json (or trials.csv row, see below): the results the runner computed when it ended.
void apply_summary(TrialRecord& t, const json& s) {
  auto num = [&](const char* key) -> std::optional<double> {
    if (s.contains(key) && s[key].is_number()) return s[key].get<double>();
    return std::nullopt;
  };
  if (s.contains("status") && s["status"].is_string()) t.status = s["status"];
  if (s.contains("error") && s["error"].is_string() && !s["error"].get<std::string>().empty())
    t.error = s["error"];
  if (auto v = num("diverged_at_step")) t.diverged_at_step = to_long(*v);
  if (auto v = num("epochs_run")) t.epochs_run = to_long(*v);
  t.best_test_acc = num("best_test_acc");
  t.final_test_acc = num("final_test_acc");
  t.final_test_loss = num("final_test_loss");
  t.final_train_acc = num("final_train_acc");
  t.final_train_loss = num("final_train_loss");
  t.probe_train_mode_acc = num("probe_train_mode_acc");
  t.probe_eval_mode_acc = num("probe_eval_mode_acc");
  t.seconds_per_epoch = num("seconds_per_epoch");
  t.samples_per_s = num("samples_per_s");
  t.logged_epochs_to_target = num("epochs_to_target");
  t.logged_steps_to_target = num("steps_to_target");
  t.train_samples = num("train_samples");
}

// The same fields from a trials.csv row (cells are text; an empty cell is "not reached / not applicable").
json row_as_summary(const CsvTable& csv, std::size_t r) {
  json s = json::object();
  for (const char* key : {"status", "error", "dataset"})
    if (!csv.text(r, key).empty()) s[key] = csv.text(r, key);
  for (const char* key :
       {"diverged_at_step", "epochs_run", "best_test_acc", "final_test_acc", "final_test_loss",
        "final_train_acc", "final_train_loss", "probe_train_mode_acc", "probe_eval_mode_acc",
        "seconds_per_epoch", "samples_per_s", "epochs_to_target", "steps_to_target", "train_samples"})
    if (auto v = csv.number(r, key)) s[key] = *v;
  return s;
}

}  // namespace

std::string canonical_value(const std::string& text) {
  auto v = parse_number(text);
  if (!v || !std::isfinite(*v)) return text;
  if (*v == std::floor(*v) && std::fabs(*v) < 1e15) return std::to_string(static_cast<long long>(*v));
  // The shortest text that reads back as the same double (0.1, not 0.10000000000000001).
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, *v);
    if (std::strtod(buf, nullptr) == *v) break;
  }
  return buf;
}

// Without a plan list in experiment.json: the trials the config's variants × sweep × seeds imply that the
// directory does not hold (config-declared values where the config lists them, else the values seen).
void add_unplanned_missing(RunRecords& run, const ordered_json* config) {
  std::vector<std::string> variants, seeds;
  std::vector<std::vector<std::string>> values(run.swept_keys.size());
  std::vector<bool> declared(run.swept_keys.size(), false);
  const ordered_json* all_variants = config ? at_path(*config, std::string("variants")) : nullptr;
  if (all_variants && all_variants->is_object())
    for (const auto& item : all_variants->items()) variants.push_back(item.key());
  if (config)
    if (auto s = at_path(*config, std::string("seeds")); s && s->is_array())
      for (const auto& v : *s) seeds.push_back(canonical_json(v));
  const ordered_json* sweep = config ? at_path(*config, std::string("sweep")) : nullptr;
  for (std::size_t k = 0; k < run.swept_keys.size(); ++k)
    if (sweep && sweep->contains(run.swept_keys[k]) && (*sweep)[run.swept_keys[k]].is_array()) {
      for (const auto& v : (*sweep)[run.swept_keys[k]]) values[k].push_back(canonical_json(v));
      declared[k] = true;
    }
  bool variants_declared = !variants.empty(), seeds_declared = !seeds.empty();
  std::set<std::string> found;
  for (const TrialRecord& t : run.trials) {
    found.insert(tuple_key(t.variant, t.swept, std::to_string(t.seed)));
    if (!variants_declared) add_unique(variants, t.variant);
    if (!seeds_declared) add_unique(seeds, std::to_string(t.seed));
    for (std::size_t k = 0; k < run.swept_keys.size(); ++k)
      for (const auto& [key, value] : t.swept)
        if (!declared[k] && key == run.swept_keys[k]) add_unique(values[k], value);
  }

  std::vector<std::pair<std::string, std::string>> swept(run.swept_keys.size());
  std::function<void(std::size_t, const std::string&)> expand = [&](std::size_t k,
                                                                    const std::string& variant) {
    if (k < run.swept_keys.size()) {
      for (const std::string& v : values[k]) {
        swept[k] = {run.swept_keys[k], v};
        expand(k + 1, variant);
      }
      return;
    }
    for (const std::string& seed : seeds) {
      if (found.count(tuple_key(variant, swept, seed))) continue;
      TrialRecord t;
      t.variant = variant;
      t.seed = std::strtoull(seed.c_str(), nullptr, 10);
      t.swept = swept;
      t.status = "missing";
      t.id = variant;  // for display only: the runner's own ids shorten the keys
      for (const auto& [key, value] : swept) t.id += "__" + key + "=" + value;
      t.id += "__seed=" + seed;
      if (all_variants && all_variants->contains(variant) && (*all_variants)[variant].is_object()) {
        const ordered_json& v = (*all_variants)[variant];
        if (v.contains("norm") && v["norm"].is_string()) t.norm = v["norm"];
        if (v.contains("dropout") && v["dropout"].is_number()) {
          t.dropout = v["dropout"].get<double>();
          t.dropout_known = true;
        }
      }
      for (const auto& [key, value] : swept) {
        if (key == "train.optimizer.lr") t.lr = parse_number(value);
        if (key == "train.batch_size") t.batch_size = parse_number(value);
      }
      run.trials.push_back(std::move(t));
    }
  };
  for (const std::string& variant : variants) expand(0, variant);
  if (sweep && std::count(declared.begin(), declared.end(), false) > 0)
    run.notes.push_back("a swept key without a value list in the config: missing trials use the values seen");
}

RunRecords load_run(const std::string& dir) {
  RunRecords run;
  run.dir = dir;
  fs::path root(dir);
  if (!fs::is_directory(root)) throw RunDirError(dir + ": not a directory (expected a run directory)");
  run.name = fs::absolute(root).lexically_normal().filename().string();
  if (run.name.empty()) run.name = fs::absolute(root).lexically_normal().parent_path().filename().string();

  std::map<std::string, TrialRecord> by_id;
  std::vector<std::string> order;
  auto record_for = [&](const std::string& id) -> TrialRecord& {
    auto [it, inserted] = by_id.try_emplace(id);
    if (inserted) {
      it->second.id = id;
      order.push_back(id);
    }
    return it->second;
  };

  // experiment.json: name, swept keys and the plan ("trials": every trial with its resolved config), so a
  // trial that never started is still listed. Without a plan, the config's variants × sweep × seeds.
  ordered_json experiment;
  const ordered_json* config = nullptr;
  bool planned = false;
  if (fs::exists(root / "experiment.json")) {
    experiment = read_json<ordered_json>(root / "experiment.json");
    config = find_config(experiment);
    if (experiment.contains("name") && experiment["name"].is_string())
      run.name = experiment["name"];
    else if (config && config->contains("name") && (*config)["name"].is_string())
      run.name = (*config)["name"];
    if (experiment.contains("swept_keys") && experiment["swept_keys"].is_array())
      for (const auto& k : experiment["swept_keys"])
        if (k.is_string()) run.swept_keys.push_back(k);
    if (run.swept_keys.empty() && config)
      if (auto s = at_path(*config, std::string("sweep")); s && s->is_object())
        for (const auto& item : s->items()) run.swept_keys.push_back(item.key());
    if (config) {
      if (auto d = at_path(*config, std::string("data.dataset")); d && d->is_string()) run.dataset = *d;
    }
    if (experiment.contains("trials") && experiment["trials"].is_array()) {
      planned = true;
      for (const auto& entry : experiment["trials"]) {
        if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string()) continue;
        TrialRecord& t = record_for(entry["id"].get<std::string>());
        t.status = "missing";
        t.variant = entry.value("variant", std::string("default"));
        if (entry.contains("seed") && entry["seed"].is_number()) t.seed = entry["seed"].get<std::uint64_t>();
        if (entry.contains("config")) apply_trial_config(t, entry["config"], run.swept_keys);
        if (entry.contains("swept") && entry["swept"].is_object() && t.swept.empty())
          for (const std::string& key : run.swept_keys)
            if (entry["swept"].contains(key)) t.swept.emplace_back(key, canonical_json(entry["swept"][key]));
      }
    }
    // Variant order: the plan's (config order; experiment.json's own objects may have sorted keys).
    for (const std::string& id : order) add_unique(run.variant_order, by_id[id].variant);
    if (config)
      if (auto v = at_path(*config, std::string("variants")); v && v->is_object())
        for (const auto& item : v->items()) add_unique(run.variant_order, item.key());
  } else {
    run.notes.push_back("no experiment.json: trials that never started cannot be listed");
  }

  // trials.csv: identifying columns trial, variant, seed, then the swept keys up to `status`.
  const fs::path trials_path = root / "trials.csv";
  std::optional<CsvTable> trials_csv;
  if (fs::exists(trials_path)) {
    trials_csv = read_csv(trials_path.string());
    for (const char* col : kIdColumns)
      if (!trials_csv->has(col)) throw RunDirError(trials_path.string() + ": no '" + col + "' column");
    if (trials_csv->malformed_rows)
      run.notes.push_back("trials.csv: skipped " + std::to_string(trials_csv->malformed_rows) +
                          " incomplete row(s)");
    if (run.swept_keys.empty()) {
      const auto& h = trials_csv->header();
      auto status = std::find(h.begin(), h.end(), "status");
      for (auto it = h.begin() + 3; it < status; ++it) run.swept_keys.push_back(*it);
    }
  } else {
    run.notes.push_back("no trials.csv: results read from the trial folders");
  }

  // Trial folders: config.json's "trial" object says who the trial is.
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && fs::exists(entry.path() / "config.json")) folders.push_back(entry.path());
  std::sort(folders.begin(), folders.end());
  std::map<std::string, fs::path> folder_of;
  for (const fs::path& folder : folders) {
    json cfg = read_json<json>(folder / "config.json");
    TrialRecord probe;
    if (!apply_trial_config(probe, cfg, run.swept_keys)) {
      run.notes.push_back((folder / "config.json").string() + ": no \"trial\" object, folder skipped");
      continue;
    }
    if (probe.id.empty()) probe.id = folder.filename().string();
    TrialRecord& t = record_for(probe.id);
    std::string status = t.status == "missing" ? "unknown" : t.status;
    t = std::move(probe);
    t.status = status;
    folder_of[t.id] = folder;
    if (run.dataset.empty())
      if (auto d = at_path(cfg, std::string("data.dataset")); d && d->is_string()) run.dataset = *d;
  }

  if (trials_csv) {
    const CsvTable& csv = *trials_csv;
    for (std::size_t r = 0; r < csv.size(); ++r) {
      const std::string& id = csv.text(r, "trial");
      bool known = by_id.count(id) > 0;
      TrialRecord& t = record_for(id);
      if (!known) {  // identity from the row alone
        t.variant = csv.text(r, "variant");
        if (auto seed = csv.number(r, "seed")) t.seed = static_cast<std::uint64_t>(*seed);
        for (const std::string& key : run.swept_keys)
          if (csv.has(key)) t.swept.emplace_back(key, canonical_value(csv.text(r, key)));
      }
      if (t.status == "missing") t.status = "unknown";
      apply_summary(t, row_as_summary(csv, r));
      if (run.dataset.empty()) run.dataset = csv.text(r, "dataset");
    }
  }

  // In a folder, summary.json and status.json are fresher than trials.csv (rebuilt only when a trial ends).
  for (auto& [id, folder] : folder_of) {
    TrialRecord& t = by_id[id];
    if (fs::exists(folder / "summary.json")) {
      json summary = read_json<json>(folder / "summary.json");
      if (summary.contains("summary") && summary["summary"].is_object()) apply_summary(t, summary["summary"]);
    }
    if (fs::exists(folder / "status.json")) {
      json status = read_json<json>(folder / "status.json");
      if (status.contains("status") && status["status"].is_string()) t.status = status["status"];
      if (status.contains("error") && status["error"].is_string() &&
          !status["error"].get<std::string>().empty())
        t.error = status["error"];
      if (status.contains("diverged_at_step") && status["diverged_at_step"].is_number())
        t.diverged_at_step = status["diverged_at_step"].get<long>();
    }
    if (fs::exists(folder / "epochs.csv")) read_epochs(t, folder / "epochs.csv", run);
    if (fs::exists(folder / "layers.csv")) read_layer_steps(t, folder / "layers.csv");
  }

  if (by_id.empty() && !config)
    throw RunDirError(dir +
                      ": neither experiment.json, trials.csv nor any trial folder (<trial>/config.json): "
                      "not a run directory");

  for (auto& [id, t] : by_id) {
    if (t.status != "missing") derive_from_epochs(t);
    for (const auto& [key, value] : t.swept) {  // a swept value is what the trial actually used
      if (key == "train.optimizer.lr") t.lr = parse_number(value);
      if (key == "train.batch_size") t.batch_size = parse_number(value);
    }
    if (t.logged_epochs_to_target && t.logged_steps_to_target && *t.logged_epochs_to_target > 0)
      t.steps_per_epoch = *t.logged_steps_to_target / *t.logged_epochs_to_target;
    else if (t.train_samples && t.batch_size && *t.batch_size > 0) {
      // Without an explicit train.drop_last the runner drops the last partial batch when the model has a
      // batch norm (the config's default).
      double batches = *t.train_samples / *t.batch_size;
      t.steps_per_epoch = t.drop_last.value_or(t.norm == "batch") ? std::floor(batches) : std::ceil(batches);
    }
  }

  for (const std::string& id : order) add_unique(run.variant_order, by_id[id].variant);
  for (const std::string& id : order) run.trials.push_back(by_id[id]);
  if (!planned) {
    add_unplanned_missing(run, config);
    for (const TrialRecord& t : run.trials) add_unique(run.variant_order, t.variant);
  }
  return run;
}

}  // namespace bnlab::experiment
