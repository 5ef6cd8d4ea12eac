#include "experiment/merge.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "experiment/report.hpp"
#include "experiment/report_format.hpp"
#include "experiment/run_log.hpp"
#include "experiment/run_records.hpp"
#include "experiment/slurm.hpp"

namespace fs = std::filesystem;

namespace bnlab::experiment {
namespace {

constexpr std::size_t kLogTailLines = 5;

// 1-based shard of every planned trial, as the tasks' select_shard assigned them.
std::map<std::string, std::size_t> shard_of_trials(const Experiment& experiment, std::size_t shards) {
  std::map<std::string, std::size_t> shard_of;
  for (std::size_t s = 0; s < shards; ++s)
    for (const auto& t : select_shard(experiment.trials, s, shards)) shard_of[t.id] = s + 1;
  return shard_of;
}

// The newest error log of array task `shard - 1` under run_dir/slurm (array-<job>_<task>.err).
std::optional<fs::path> task_error_log(const fs::path& run_dir, std::size_t shard) {
  const fs::path dir = slurm_dir(run_dir.string());
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  const std::string suffix = "_" + std::to_string(shard - 1) + ".err";
  std::optional<fs::path> newest;
  fs::file_time_type newest_time{};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("array-", 0) != 0 || name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const auto time = entry.last_write_time(ec);
    if (!newest || time > newest_time) {
      newest = entry.path();
      newest_time = time;
    }
  }
  return newest;
}

std::vector<std::string> last_lines(const fs::path& path, std::size_t count) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(count));
  return lines;
}

struct PlannedTrial {
  std::string id;
  std::string status = "missing";  // as the folder shows it
  std::string error;
  std::optional<long> diverged_at_step;
  int epochs_done = 0;
};

// Reads what each trial's folder says. Without experiment.json no task started, so every planned
// trial is missing.
std::vector<PlannedTrial> read_trials(const fs::path& run_dir, bool has_record, const MergeOptions& options) {
  std::vector<PlannedTrial> trials;
  if (!has_record) {
    for (const auto& t : options.experiment->trials) {
      PlannedTrial missing;
      missing.id = t.id;
      trials.push_back(missing);
    }
    return trials;
  }
  for (const auto& logged : read_logged_trials(run_dir)) {
    PlannedTrial t;
    t.id = logged.trial;
    const fs::path dir = trial_dir(run_dir, logged.trial);
    std::optional<TrialStatus> status;
    if (fs::exists(dir / "status.json")) {
      try {
        status = read_status(dir);
      } catch (const Error& e) {
        t.status = "failed";
        t.error = std::string("unreadable status.json: ") + e.what();
        trials.push_back(t);
        continue;
      }
    }
    if (!logged.summary && !status) {
      trials.push_back(t);  // never started
      continue;
    }
    t.status = logged.status;
    if (logged.summary) {
      t.error = logged.summary->error;
      t.diverged_at_step = logged.summary->diverged_at_step;
    }
    if (status) {
      if (t.error.empty()) t.error = status->error;
      if (!t.diverged_at_step) t.diverged_at_step = status->diverged_at_step;
      t.epochs_done = status->epochs_done;
    }
    trials.push_back(t);
  }
  return trials;
}

std::string unfinished_reason(const PlannedTrial& t) {
  if (t.status == "missing") return "never started";
  if (t.status == "failed") return t.error.empty() ? "failed without an error text" : t.error;
  return "still '" + t.status + "' after " + std::to_string(t.epochs_done) +
         " epochs: its process ended without recording an outcome (time limit, cancellation, node "
         "failure, crash), or it is still running";
}

}  // namespace

std::size_t MergeResult::count(const std::string& status) const {
  return static_cast<std::size_t>(std::count_if(
      unfinished.begin(), unfinished.end(), [&](const UnfinishedTrial& t) { return t.status == status; }));
}

MergeResult merge_run(const fs::path& run_dir, const MergeOptions& options) {
  MergeResult result;
  result.run_dir = run_dir;
  const bool has_record = fs::exists(run_dir / "experiment.json");
  if (!has_record && !options.experiment) {
    if (!fs::is_directory(run_dir)) throw RunError("merge: " + run_dir.string() + " is not a directory");
    throw RunError("merge: " + run_dir.string() +
                   " holds no experiment.json, so no task of this run started; pass the config "
                   "(bnlab merge DIR --config CONFIG) to list the trials it plans");
  }
  if (!has_record)
    result.notes.push_back("no experiment.json: no task started, so every planned trial is missing");

  if (has_record) {
    rebuild_trials_csv(run_dir);
    result.trials_csv_written = true;
  }
  const std::vector<PlannedTrial> trials = read_trials(run_dir, has_record, options);
  result.planned = trials.size();

  std::map<std::string, std::size_t> shard_of;
  if (options.experiment && options.shards > 0) {
    shard_of = shard_of_trials(*options.experiment, options.shards);
    std::set<std::string> logged_ids;
    for (const auto& t : trials) logged_ids.insert(t.id);
    std::set<std::string> planned_ids;
    for (const auto& t : options.experiment->trials) planned_ids.insert(t.id);
    if (logged_ids != planned_ids) {
      result.notes.push_back(
          "the config plans other trials than experiment.json records (edited since the run "
          "started?): shards are not named");
      shard_of.clear();
    }
  }

  std::map<std::size_t, std::string> log_of_shard;
  for (const auto& t : trials) {
    if (t.status == "done") {
      ++result.done;
    } else if (t.status == "diverged") {
      ++result.diverged;
      result.diverged_trials.push_back(
          t.id + (t.diverged_at_step ? " (step " + std::to_string(*t.diverged_at_step) + ")" : ""));
    } else {
      UnfinishedTrial u{t.id, t.status, unfinished_reason(t), std::nullopt, ""};
      if (auto it = shard_of.find(t.id); it != shard_of.end()) {
        u.shard = it->second;
        if (!log_of_shard.count(it->second)) {
          auto log = task_error_log(run_dir, it->second);
          log_of_shard[it->second] = log ? log->string() : "";
          // An empty error log says nothing; its path is still on the trial.
          if (log)
            if (auto tail = last_lines(*log, kLogTailLines); !tail.empty())
              result.task_logs.push_back({it->second, log->string(), std::move(tail)});
        }
        u.task_log = log_of_shard[it->second];
      }
      result.unfinished.push_back(u);
    }
  }

  if (options.write_report && has_record) {
    try {
      const Report report = build_report(load_run(run_dir.string()));
      write_report_file((run_dir / "report.md").string(), render_markdown(report));
      result.report_written = true;
    } catch (const Error& e) {
      result.problems.push_back(std::string("report.md not written: ") + e.what());
    }
  }
  return result;
}

std::string format_merge(const MergeResult& r) {
  std::ostringstream s;
  const std::string dir = r.run_dir.string();
  s << "merge " << dir << ": " << r.planned << " planned trials: " << r.done << " done, " << r.diverged
    << " diverged, " << r.count("failed") << " failed, " << r.count("missing") << " missing (never started), "
    << r.unfinished.size() - r.count("failed") - r.count("missing") << " interrupted\n";
  for (const auto& note : r.notes) s << "note: " << note << "\n";
  if (r.trials_csv_written) s << "trials.csv: " << (r.run_dir / "trials.csv").string() << "\n";
  if (r.report_written) s << "report: " << (r.run_dir / "report.md").string() << "\n";
  if (!r.diverged_trials.empty()) {
    s << "diverged (a measured outcome of the settings, not an error):\n";
    for (const auto& d : r.diverged_trials) s << "  " << d << "\n";
  }
  if (!r.unfinished.empty()) {
    s << "unfinished trials (run the same command with --resume, or re-submit the array: finished trials are "
         "skipped):\n";
    for (const auto& u : r.unfinished) {
      s << "  " << u.status << "  " << u.trial;
      if (u.shard) s << "  [shard " << *u.shard << "]";
      s << "  " << u.reason << "\n";
    }
  }
  for (const auto& log : r.task_logs) {
    s << "log of shard " << log.shard << " (array task " << log.shard - 1 << "): " << log.path << "\n";
    for (const auto& line : log.tail) s << "  | " << line << "\n";
  }
  for (const auto& p : r.problems) s << "problem: " << p << "\n";
  return s.str();
}

}  // namespace bnlab::experiment
