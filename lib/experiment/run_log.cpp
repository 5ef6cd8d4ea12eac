// Run directory files: CSV rows with identifying columns, atomic JSON status and the rebuilt trials.csv.
#include "experiment/run_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <sstream>

#include "core/version.hpp"

namespace bnlab::experiment {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* const kEpochColumns[] = {"epoch", "split",   "loss",          "acc",
                                     "lr",    "seconds", "samples_per_s", "grad_norm"};
const char* const kStepColumns[] = {"step", "epoch", "loss", "acc", "lr"};
const char* const kLayerColumns[] = {"epoch",    "step",     "layer",     "act_mean",   "act_std",
                                     "act_p15",  "act_p50",  "act_p85",   "unit",       "unit_p15",
                                     "unit_p50", "unit_p85", "grad_norm", "weight_norm"};
const char* const kTrialColumns[] = {"status",
                                     "epochs_run",
                                     "best_test_acc",
                                     "best_epoch",
                                     "final_test_acc",
                                     "final_test_loss",
                                     "final_train_acc",
                                     "final_train_loss",
                                     "probe_train_mode_acc",
                                     "probe_eval_mode_acc",
                                     "epochs_to_target",
                                     "steps_to_target",
                                     "diverged_at_step",
                                     "seconds",
                                     "seconds_per_epoch",
                                     "samples_per_s",
                                     "parameters",
                                     "dataset",
                                     "dataset_source",
                                     "train_samples",
                                     "test_samples",
                                     "error"};

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Shortest text that reads back as the same double; nan and inf as pandas reads them.
std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

template <class T>
std::string optional_cell(const std::optional<T>& v) {
  if (!v) return "";
  if constexpr (std::is_floating_point_v<T>)
    return number(*v);
  else
    return std::to_string(*v);
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void write_row(std::ostream& out, const std::vector<std::string>& cells) {
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out << ',';
    out << csv_cell(cells[i]);
  }
  out << '\n';
}

template <std::size_t N>
std::vector<std::string> with_ids(const std::vector<std::string>& ids, const char* const (&columns)[N]) {
  std::vector<std::string> header = ids;
  header.insert(header.end(), std::begin(columns), std::end(columns));
  return header;
}

// A swept value as a CSV cell: strings bare, numbers and the rest as JSON.
std::string value_cell(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::ofstream open_csv(const fs::path& path, const std::vector<std::string>& header) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw RunError("cannot write " + path.string());
  write_row(out, header);
  return out;
}

json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw RunError("cannot read " + path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw RunError(path.string() + " is not valid JSON: " + e.what());
  }
}

template <class T>
void put_optional(json& j, const char* key, const std::optional<T>& v) {
  j[key] = v ? json(*v) : json();
}

template <class T>
std::optional<T> get_optional(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

json trial_plan_entry(const TrialSpec& t) {
  json swept = json::object();
  for (const auto& [key, value] : t.swept) swept[key] = value;
  return {{"id", t.id}, {"variant", t.variant}, {"seed", t.seed}, {"swept", swept}, {"config", t.resolved}};
}

// An exclusive advisory lock on a file in the run directory, released when it goes out of scope.
class DirectoryLock {
 public:
  explicit DirectoryLock(const fs::path& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    // Without lock support the atomic rename still keeps the file whole; only freshness could suffer.
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_;
};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

void write_file_atomically(const fs::path& path, const std::string& content) {
  // Host, pid and a random number keep temporary names distinct across processes and cluster nodes.
  static std::mt19937_64 salt{std::random_device{}()};
  const fs::path tmp = path.string() + ".tmp." + host_name() + "." + std::to_string(::getpid()) + "." +
                       std::to_string(salt() % 1000000000);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw RunError("cannot write " + tmp.string() + ": " + std::strerror(errno));
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw RunError("cannot write " + tmp.string() + ": " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  // fsync before rename: after a crash the name points at the whole new file or the whole old one.
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw RunError("cannot replace " + path.string() + ": " + why);
  }
}

std::string iso_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

RunEnvironment current_environment(int threads, int jobs, const std::string& shard) {
  RunEnvironment env;
  env.threads = threads;
  env.jobs = jobs;
  env.host = host_name();
  env.start_time = iso_time_now();
  env.shard = shard;
  return env;
}

void write_experiment_json(const fs::path& run_dir, const Experiment& experiment, const RunEnvironment& env) {
  json trials = json::array();
  for (const auto& t : experiment.trials) trials.push_back(trial_plan_entry(t));
  const fs::path path = run_dir / "experiment.json";
  if (fs::exists(path)) {
    const json existing = read_json_file(path);
    if (existing.value("trials", json()) == trials) return;  // same plan: the first writer's record stays
    throw RunError(run_dir.string() + " holds a different experiment (\"" +
                   existing.value("name", std::string("?")) +
                   "\" with other trials or settings); use --out DIR for a new run");
  }
  json record{{"name", experiment.name},
              {"description", experiment.description},
              {"config", experiment.given},
              {"swept_keys", experiment.swept_keys},
              {"trials", trials},
              {"bnlab_version", core::version()},
              {"git_revision", core::git_revision()},
              {"threads", env.threads},
              {"jobs", env.jobs},
              {"host", env.host},
              {"shard", env.shard},
              {"start_time", env.start_time}};
  write_file_atomically(path, record.dump(2) + "\n");
}

fs::path trial_dir(const fs::path& run_dir, const std::string& trial_id) {
  return run_dir / trial_id;
}

bool is_finished(const std::string& status) {
  return status == "done" || status == "diverged";
}

void write_status(const fs::path& dir, const TrialStatus& status) {
  json j{{"trial", status.trial},
         {"status", status.status},
         {"error", status.error},
         {"epochs_done", status.epochs_done},
         {"updated", status.updated.empty() ? iso_time_now() : status.updated}};
  put_optional(j, "diverged_at_step", status.diverged_at_step);
  write_file_atomically(dir / "status.json", j.dump(2) + "\n");
}

std::optional<TrialStatus> read_status(const fs::path& dir) {
  const fs::path path = dir / "status.json";
  if (!fs::exists(path)) return std::nullopt;
  const json j = read_json_file(path);
  TrialStatus s;
  s.trial = j.value("trial", std::string());
  s.status = j.value("status", std::string("pending"));
  s.error = j.value("error", std::string());
  s.updated = j.value("updated", std::string());
  s.epochs_done = j.value("epochs_done", 0);
  s.diverged_at_step = get_optional<long>(j, "diverged_at_step");
  return s;
}

json summary_to_json(const TrialSummary& s) {
  json j{{"status", s.status},   {"epochs_run", s.epochs_run},         {"seconds", s.seconds},
         {"dataset", s.dataset}, {"dataset_source", s.dataset_source}, {"error", s.error}};
  put_optional(j, "best_test_acc", s.best_test_acc);
  put_optional(j, "best_epoch", s.best_epoch);
  put_optional(j, "final_test_acc", s.final_test_acc);
  put_optional(j, "final_test_loss", s.final_test_loss);
  put_optional(j, "final_train_acc", s.final_train_acc);
  put_optional(j, "final_train_loss", s.final_train_loss);
  put_optional(j, "probe_train_mode_acc", s.probe_train_mode_acc);
  put_optional(j, "probe_eval_mode_acc", s.probe_eval_mode_acc);
  put_optional(j, "epochs_to_target", s.epochs_to_target);
  put_optional(j, "steps_to_target", s.steps_to_target);
  put_optional(j, "diverged_at_step", s.diverged_at_step);
  put_optional(j, "seconds_per_epoch", s.seconds_per_epoch);
  put_optional(j, "samples_per_s", s.samples_per_s);
  put_optional(j, "parameters", s.parameters);
  put_optional(j, "train_samples", s.train_samples);
  put_optional(j, "test_samples", s.test_samples);
  // JSON has no nan/inf: a diverged loss is stored as null and reads back as "not applicable".
  for (auto& [key, value] : j.items())
    if (value.is_number_float() && !std::isfinite(value.get<double>())) value = nullptr;
  return j;
}

TrialSummary summary_from_json(const json& j) {
  TrialSummary s;
  s.status = j.value("status", std::string("pending"));
  s.epochs_run = j.value("epochs_run", 0);
  s.seconds = j.value("seconds", 0.0);
  s.dataset = j.value("dataset", std::string());
  s.dataset_source = j.value("dataset_source", std::string());
  s.error = j.value("error", std::string());
  s.best_test_acc = get_optional<double>(j, "best_test_acc");
  s.best_epoch = get_optional<int>(j, "best_epoch");
  s.final_test_acc = get_optional<double>(j, "final_test_acc");
  s.final_test_loss = get_optional<double>(j, "final_test_loss");
  s.final_train_acc = get_optional<double>(j, "final_train_acc");
  s.final_train_loss = get_optional<double>(j, "final_train_loss");
  s.probe_train_mode_acc = get_optional<double>(j, "probe_train_mode_acc");
  s.probe_eval_mode_acc = get_optional<double>(j, "probe_eval_mode_acc");
  s.epochs_to_target = get_optional<int>(j, "epochs_to_target");
  s.steps_to_target = get_optional<long>(j, "steps_to_target");
  s.diverged_at_step = get_optional<long>(j, "diverged_at_step");
  s.seconds_per_epoch = get_optional<double>(j, "seconds_per_epoch");
  s.samples_per_s = get_optional<double>(j, "samples_per_s");
  s.parameters = get_optional<std::size_t>(j, "parameters");
  s.train_samples = get_optional<std::size_t>(j, "train_samples");
  s.test_samples = get_optional<std::size_t>(j, "test_samples");
  return s;
}

void write_outcome(const fs::path& dir, const std::string& trial, const std::vector<std::string>& ids,
                   const RunEnvironment& env, const TrialSummary& summary) {
  // summary.json first: a trial whose status says it ended always has its summary.
  json record{{"trial", trial},
              {"ids", ids},
              {"host", env.host},
              {"threads", env.threads},
              {"jobs", env.jobs},
              {"run_started", env.start_time},
              {"finished", iso_time_now()},
              {"summary", summary_to_json(summary)}};
  write_file_atomically(dir / "summary.json", record.dump(2) + "\n");
  TrialStatus status;
  status.trial = trial;
  status.status = summary.status;
  status.error = summary.error;
  status.epochs_done = summary.epochs_run;
  status.diverged_at_step = summary.diverged_at_step;
  write_status(dir, status);
}

std::optional<TrialSummary> read_summary(const fs::path& dir) {
  const fs::path path = dir / "summary.json";
  if (!fs::exists(path)) return std::nullopt;
  return summary_from_json(read_json_file(path).value("summary", json::object()));
}

std::vector<std::string> id_columns(const std::vector<std::string>& swept_keys) {
  std::vector<std::string> cols{"trial", "variant", "seed"};
  cols.insert(cols.end(), swept_keys.begin(), swept_keys.end());
  return cols;
}

std::vector<std::string> id_cells(const TrialSpec& spec, const std::vector<std::string>& swept_keys) {
  std::vector<std::string> cells{spec.id, spec.variant, std::to_string(spec.seed)};
  for (const auto& key : swept_keys) {
    std::string cell;
    for (const auto& [k, v] : spec.swept)
      if (k == key) cell = value_cell(v);
    cells.push_back(cell);
  }
  return cells;
}

std::vector<std::string> trials_csv_header(const std::vector<std::string>& swept_keys) {
  return with_ids(id_columns(swept_keys), kTrialColumns);
}

TrialLog::TrialLog(const fs::path& run_dir, const TrialSpec& spec, const std::vector<std::string>& swept_keys,
                   const RunEnvironment& env)
    : dir_(trial_dir(run_dir, spec.id)),
      trial_(spec.id),
      ids_(id_cells(spec, swept_keys)),
      env_(env),
      started_(steady_seconds()) {
  // A fresh start: rows of an earlier, interrupted attempt must not survive next to the new ones.
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) throw RunError("cannot clear " + dir_.string() + ": " + ec.message());
  fs::create_directories(dir_, ec);
  if (ec) throw RunError("cannot create " + dir_.string() + ": " + ec.message());
  write_file_atomically(dir_ / "config.json", spec.resolved.dump(2) + "\n");
  const auto ids = id_columns(swept_keys);
  epochs_ = open_csv(dir_ / "epochs.csv", with_ids(ids, kEpochColumns));
  steps_ = open_csv(dir_ / "steps.csv", with_ids(ids, kStepColumns));
  layers_ = open_csv(dir_ / "layers.csv", with_ids(ids, kLayerColumns));
  TrialStatus status;
  status.trial = trial_;
  status.status = "running";
  write_status(dir_, status);
}

void TrialLog::on_start(const TrialInfo& info) {
  info_ = info;
}

void TrialLog::on_step(const StepMetrics& r) {
  std::vector<std::string> cells = ids_;
  cells.insert(cells.end(), {std::to_string(r.step), std::to_string(r.epoch), number(r.loss), number(r.acc),
                             number(r.lr)});
  write_row(steps_, cells);
}

void TrialLog::on_epoch(const EpochReport& report) {
  for (const auto& r : report.rows) {
    std::vector<std::string> cells = ids_;
    cells.insert(cells.end(), {std::to_string(r.epoch), r.split, number(r.loss), number(r.acc), number(r.lr),
                               number(r.seconds), number(r.samples_per_s), optional_cell(r.grad_norm)});
    write_row(epochs_, cells);
  }
  for (const auto& s : report.layers) {
    std::vector<std::string> cells = ids_;
    cells.insert(cells.end(),
                 {std::to_string(report.epoch), std::to_string(report.step), s.layer, number(s.act_mean),
                  number(s.act_std), number(s.act_p15), number(s.act_p50), number(s.act_p85),
                  std::to_string(s.unit), number(s.unit_p15), number(s.unit_p50), number(s.unit_p85),
                  s.has_params ? number(s.grad_norm) : "", s.has_params ? number(s.weight_norm) : ""});
    write_row(layers_, cells);
  }
  epochs_.flush();
  steps_.flush();
  layers_.flush();
  if (!epochs_ || !steps_ || !layers_) throw RunError("cannot write the logs in " + dir_.string());
  // Epoch 0 and a diverged partial epoch have no completed training epoch to count.
  const bool complete =
      report.epoch > 0 && std::any_of(report.rows.begin(), report.rows.end(),
                                      [](const EpochMetrics& r) { return r.split == "test"; });
  if (complete) epochs_done_ = report.epoch;
  TrialStatus status;
  status.trial = trial_;
  status.status = "running";
  status.epochs_done = epochs_done_;
  write_status(dir_, status);
}

void TrialLog::on_finish(const TrialSummary& summary) {
  finish(summary);
}

void TrialLog::fail(const std::string& error) {
  TrialSummary s;
  s.status = "failed";
  s.error = error;
  s.epochs_run = epochs_done_;
  s.seconds = steady_seconds() - started_;
  if (info_) {
    s.parameters = info_->parameters;
    s.train_samples = info_->train_samples;
    s.test_samples = info_->test_samples;
    s.dataset = info_->dataset;
    s.dataset_source = info_->dataset_source;
  }
  finish(s);
}

void TrialLog::finish(const TrialSummary& summary) {
  epochs_.close();
  steps_.close();
  layers_.close();
  write_outcome(dir_, trial_, ids_, env_, summary);
}

std::vector<LoggedTrial> read_logged_trials(const fs::path& run_dir) {
  const fs::path path = run_dir / "experiment.json";
  if (!fs::exists(path))
    throw RunError(run_dir.string() + " is not a bnlab run directory (no experiment.json)");
  const json experiment = read_json_file(path);
  const auto swept_keys = experiment.value("swept_keys", std::vector<std::string>());
  std::vector<LoggedTrial> records;
  for (const auto& t : experiment.value("trials", json::array())) {
    LoggedTrial r;
    r.trial = t.at("id").get<std::string>();
    r.variant = t.value("variant", std::string());
    r.seed = t.value("seed", std::uint64_t{0});
    const json swept = t.value("swept", json::object());
    for (const auto& key : swept_keys)
      if (swept.contains(key)) r.swept.emplace_back(key, swept.at(key));
    const fs::path dir = trial_dir(run_dir, r.trial);
    // The summary is authoritative once written; status.json covers trials still running.
    if (auto summary = read_summary(dir); summary && is_finished(summary->status)) {
      r.summary = summary;
      r.status = summary->status;
    } else if (auto status = read_status(dir)) {
      r.status = status->status;
      if (summary && summary->status == status->status) r.summary = summary;
    }
    records.push_back(std::move(r));
  }
  return records;
}

void rebuild_trials_csv(const fs::path& run_dir) {
  DirectoryLock lock(run_dir / ".trials.lock");
  const json experiment = read_json_file(run_dir / "experiment.json");
  const auto swept_keys = experiment.value("swept_keys", std::vector<std::string>());
  std::ostringstream out;
  write_row(out, trials_csv_header(swept_keys));
  for (const auto& r : read_logged_trials(run_dir)) {
    std::vector<std::string> cells{r.trial, r.variant, std::to_string(r.seed)};
    for (const auto& key : swept_keys) {
      std::string cell;
      for (const auto& [k, v] : r.swept)
        if (k == key) cell = value_cell(v);
      cells.push_back(cell);
    }
    const TrialSummary s = r.summary.value_or(TrialSummary{});
    cells.push_back(r.status);
    if (!r.summary) {
      cells.resize(cells.size() + std::size(kTrialColumns) - 1);
    } else {
      cells.insert(cells.end(), {std::to_string(s.epochs_run),
                                 optional_cell(s.best_test_acc),
                                 optional_cell(s.best_epoch),
                                 optional_cell(s.final_test_acc),
                                 optional_cell(s.final_test_loss),
                                 optional_cell(s.final_train_acc),
                                 optional_cell(s.final_train_loss),
                                 optional_cell(s.probe_train_mode_acc),
                                 optional_cell(s.probe_eval_mode_acc),
                                 optional_cell(s.epochs_to_target),
                                 optional_cell(s.steps_to_target),
                                 optional_cell(s.diverged_at_step),
                                 number(s.seconds),
                                 optional_cell(s.seconds_per_epoch),
                                 optional_cell(s.samples_per_s),
                                 optional_cell(s.parameters),
                                 s.dataset,
                                 s.dataset_source,
                                 optional_cell(s.train_samples),
                                 optional_cell(s.test_samples),
                                 s.error});
    }
    write_row(out, cells);
  }
  write_file_atomically(run_dir / "trials.csv", out.str());
}

}  // namespace bnlab::experiment
