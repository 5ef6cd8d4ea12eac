#include "experiment/slurm.hpp"

#include <regex>
#include <sstream>

#include "core/error.hpp"

namespace bnlab::experiment {
namespace {

bool has_any(const std::string& s, const char* chars) {
  return s.find_first_of(chars) != std::string::npos;
}

void require_absolute(const std::string& path, const char* what) {
  if (path.empty() || path.front() != '/')
    throw ConfigError(std::string("slurm: ") + what + " '" + path +
                      "' must be an absolute path (jobs start in other directories, on other nodes)");
  if (has_any(path, "\n\r\""))
    throw ConfigError(std::string("slurm: ") + what + " '" + path +
                      "' contains a newline or double quote, which #SBATCH lines cannot carry");
}

void require_word(const std::string& value, const char* what) {
  if (has_any(value, " \t\n\r\"'"))
    throw ConfigError(std::string("slurm: ") + what + " '" + value + "' must be one word without quotes");
}

void validate(const SlurmJobSpec& spec) {
  require_absolute(spec.binary, "bnlab binary");
  require_absolute(spec.config, "config");
  require_absolute(spec.out_dir, "output directory");
  require_absolute(spec.work_dir, "working directory");
  if (spec.shards < 1) throw ConfigError("slurm: --shards must be at least 1");
  if (spec.cpus_per_task < 1)
    throw ConfigError("slurm: --cpus-per-task must be at least 1, got " + std::to_string(spec.cpus_per_task));
  if (spec.job_name.empty()) throw ConfigError("slurm: the job name is empty");
  require_word(spec.job_name, "job name");
  require_word(spec.partition, "--partition");
  // Slurm's formats: minutes, m:s, h:m:s, d-h, d-h:m, d-h:m:s, or unlimited.
  static const std::regex time_format(
      R"(\d+(:\d+){0,2}|\d+-\d+(:\d+){0,2}|UNLIMITED|INFINITE|unlimited|infinite)");
  if (!spec.time_limit.empty() && !std::regex_match(spec.time_limit, time_format))
    throw ConfigError("slurm: --time '" + spec.time_limit +
                      "' is not a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)");
  for (const auto& option : spec.extra)
    if (option.empty() || option.front() != '-' || has_any(option, "\n\r"))
      throw ConfigError("slurm: --extra option '" + option + "' must be one sbatch option starting with '-'");
  for (const auto& o : spec.overrides)
    if (has_any(o, "\n\r")) throw ConfigError("slurm: --set '" + o + "' contains a newline");
}

// A path in an #SBATCH line: sbatch splits on blanks but honours double quotes.
std::string sbatch_path(const std::string& path) {
  return has_any(path, " \t") ? "\"" + path + "\"" : path;
}

// The #SBATCH lines both scripts share (partition, time, working directory, site options).
void common_options(std::ostringstream& s, const SlurmJobSpec& spec) {
  if (!spec.partition.empty()) s << "#SBATCH --partition=" << spec.partition << "\n";
  if (!spec.time_limit.empty()) s << "#SBATCH --time=" << spec.time_limit << "\n";
  s << "#SBATCH --chdir=" << sbatch_path(spec.work_dir) << "\n";
  for (const auto& option : spec.extra) s << "#SBATCH " << option << "\n";
}

}  // namespace

std::string slurm_dir(const std::string& out_dir) {
  if (!out_dir.empty() && out_dir.back() == '/') return out_dir + "slurm";
  return out_dir + "/slurm";
}

std::string shell_quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'')
      quoted += "'\\''";
    else
      quoted += c;
  }
  return quoted + "'";
}

std::string slurm_array_script(const SlurmJobSpec& spec) {
  validate(spec);
  const std::string logs = slurm_dir(spec.out_dir);
  const std::string n = std::to_string(spec.shards);
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# bnlab sweep as a Slurm job array, written by `bnlab slurm`. Array task i (Slurm numbers them from "
       "0)\n"
    << "# runs shard i+1 of " << n << " (bnlab's --shard is 1-based); shards are balanced by expected cost.\n"
    << "# --resume makes re-submitting safe: finished trials are skipped, interrupted ones start over.\n"
    << "# Re-run single tasks with: sbatch --array=1,2 " << logs << "/array.sbatch\n"
    << "#SBATCH --job-name=" << spec.job_name << "\n"
    << "#SBATCH --array=0-" << spec.shards - 1 << "\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --cpus-per-task=" << spec.cpus_per_task << "\n"
    << "#SBATCH --output=" << sbatch_path(logs + "/array-%A_%a.out") << "\n"
    << "#SBATCH --error=" << sbatch_path(logs + "/array-%A_%a.err") << "\n";
  common_options(s, spec);
  s << "set -eu\n"
    << ": \"${SLURM_ARRAY_TASK_ID:?submit this script with sbatch: it is a job array}\"\n"
    << "shard=\"$((SLURM_ARRAY_TASK_ID + 1))/" << n << "\"\n"
    << "echo \"bnlab: array task ${SLURM_ARRAY_TASK_ID} runs shard ${shard} on $(hostname)\"\n"
    << "exec " << shell_quote(spec.binary) << " run " << shell_quote(spec.config);
  for (const auto& o : spec.overrides) s << " --set " << shell_quote(o);
  s << " --shard \"$shard\" --resume --threads " << spec.cpus_per_task << " --out "
    << shell_quote(spec.out_dir) << "\n";
  return s.str();
}

std::string slurm_merge_script(const SlurmJobSpec& spec) {
  validate(spec);
  const std::string logs = slurm_dir(spec.out_dir);
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# Merges the results of the bnlab job array, written by `bnlab slurm`. Submit it with\n"
    << "# --dependency=afterany:<array job id> so it runs even when tasks failed; it rebuilds trials.csv,\n"
    << "# lists missing and failed trials with the reason, writes report.md, and exits non-zero when trials\n"
    << "# are missing or failed. Running it again is harmless.\n"
    << "#SBATCH --job-name=" << spec.job_name << "-merge\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --cpus-per-task=1\n"
    << "#SBATCH --output=" << sbatch_path(logs + "/merge-%j.out") << "\n"
    << "#SBATCH --error=" << sbatch_path(logs + "/merge-%j.err") << "\n";
  common_options(s, spec);
  s << "set -eu\n"
    << "exec " << shell_quote(spec.binary) << " merge " << shell_quote(spec.out_dir) << " --config "
    << shell_quote(spec.config);
  for (const auto& o : spec.overrides) s << " --set " << shell_quote(o);
  s << " --shards " << spec.shards << "\n";
  return s.str();
}

std::vector<std::string> split_sbatch_options(const std::string& text) {
  std::vector<std::string> options;
  std::string line;
  std::string normalized = text;
  for (char& c : normalized)
    if (c == ';') c = '\n';
  std::istringstream lines(normalized);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string word;
    bool first = true;
    while (words >> word) {
      if (first && word == "#SBATCH") {
        first = false;
        continue;
      }
      first = false;
      if (word.front() == '-')
        options.push_back(word);
      else if (!options.empty())
        options.back() += " " + word;
      else
        throw ConfigError("slurm: --extra '" + text + "': '" + word +
                          "' is not an sbatch option (options start with '-', e.g. --extra \"--mem=4G\")");
    }
  }
  return options;
}

std::string parse_sbatch_job_id(const std::string& parsable_output) {
  // The id is the first line's text up to an optional ";cluster" suffix.
  std::string first = parsable_output.substr(0, parsable_output.find('\n'));
  first = first.substr(0, first.find(';'));
  while (!first.empty() && (first.back() == '\r' || first.back() == ' ')) first.pop_back();
  static const std::regex job_id(R"(\d+)");
  if (!std::regex_match(first, job_id))
    throw Error("sbatch printed no job id (expected a number from --parsable, got '" + parsable_output +
                "')");
  return first;
}

}  // namespace bnlab::experiment
