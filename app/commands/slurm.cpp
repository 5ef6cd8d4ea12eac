// `bnlab slurm CONFIG`: writes the sbatch scripts that run a sweep as a Slurm job array plus a merge job,
// and with --submit hands them to sbatch.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands/registry.hpp"
#include "core/error.hpp"
#include "experiment/config.hpp"
#include "experiment/slurm.hpp"

namespace fs = std::filesystem;

namespace bnlab::app {
namespace {

// Slurm's default MaxArraySize is 1001 (task ids 0-1000); more shards than that need the site's limit.
constexpr std::size_t kDefaultMaxShards = 1000;

struct SlurmArgs {
  std::string config, out, partition, time;
  std::vector<std::string> overrides, extra;
  std::size_t shards = 0;  // 0: one per trial, up to kDefaultMaxShards
  int cpus_per_task = 1;
  bool submit = false, wait = false;
};

std::optional<std::string> find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const fs::path candidate =
        fs::path(dirs.substr(start, end - start).empty() ? "." : dirs.substr(start, end - start)) / program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return std::nullopt;
}

struct Submission {
  int status = -1;
  std::string output;  // sbatch's stdout; its stderr goes straight to ours
};

// Runs sbatch with the arguments and collects its stdout (the job id with --parsable).
Submission run_sbatch(const std::string& sbatch, const std::vector<std::string>& arguments) {
  int out[2];
  if (pipe(out) != 0)
    throw Error(std::string("slurm: cannot create a pipe for sbatch: ") + std::strerror(errno));
  std::vector<std::string> words{sbatch};
  words.insert(words.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw Error(std::string("slurm: cannot start sbatch: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "bnlab: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(out[1]);
  Submission result;
  char buffer[4096];
  ssize_t n;
  while ((n = read(out[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) result.output.append(buffer, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Writes through a temporary file and a rename, executable, so a half-written script is never submitted.
void write_script(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out.good()) throw Error("slurm: cannot write " + tmp.string());
  }
  fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  fs::rename(tmp, path);
}

// Slurm job names are shown in squeue; keep the experiment name readable and shell-safe.
std::string job_name_for(const std::string& experiment) {
  std::string name = "bnlab-" + experiment;
  for (char& c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '-';
  return name;
}

fs::path this_executable() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    throw Error("slurm: cannot find the path of the bnlab executable (/proc/self/exe): " + ec.message());
  return self;
}

int submit(const SlurmArgs& args, const fs::path& array_script, const fs::path& merge_script,
           const fs::path& logs, std::size_t shards) {
  const auto sbatch = find_on_path("sbatch");
  if (!sbatch)
    throw Error(
        "slurm: --submit needs Slurm's sbatch, which is not on PATH; run this on a login node of the "
        "cluster, or submit the scripts written to " +
        logs.string() + " with sbatch there");
  Submission array = run_sbatch(*sbatch, {"--parsable", array_script.string()});
  if (array.status != 0)
    throw Error("slurm: sbatch refused " + array_script.string() + " (exit status " +
                std::to_string(array.status) + "; its message is above)");
  const std::string array_id = experiment::parse_sbatch_job_id(array.output);
  std::cout << "submitted array job " << array_id << " (" << shards << " tasks); logs: " << logs.string()
            << "/array-" << array_id << "_<task>.out and .err\n";

  std::vector<std::string> merge_args{"--parsable", "--dependency=afterany:" + array_id};
  if (args.wait) merge_args.push_back("--wait");
  merge_args.push_back(merge_script.string());
  if (args.wait)
    std::cout << "waiting for the merge job, which starts when every array task has ended\n" << std::flush;
  Submission merge = run_sbatch(*sbatch, merge_args);
  std::optional<std::string> merge_id;
  try {
    merge_id = experiment::parse_sbatch_job_id(merge.output);
  } catch (const Error&) {
  }
  if (!merge_id)
    throw Error(
        "slurm: the array job " + array_id + " is submitted, but sbatch refused the merge job (exit status " +
        std::to_string(merge.status) + "); submit it yourself: sbatch --dependency=afterany:" + array_id +
        " " + merge_script.string());
  std::cout << "submitted merge job " << *merge_id << " (afterany:" << array_id << "); log: " << logs.string()
            << "/merge-" << *merge_id << ".out\n";
  const fs::path out_dir = logs.parent_path();
  if (args.wait) {
    std::cout << "merge job " << *merge_id << " ended with exit status " << merge.status
              << (merge.status == 0 ? " (every trial finished)"
                                    : " (see its log: trials are missing or failed)")
              << "\nresults: " << (out_dir / "trials.csv").string() << ", "
              << (out_dir / "report.md").string() << "\n";
    return merge.status;
  }
  std::cout << "results land in " << (out_dir / "trials.csv").string() << " and "
            << (out_dir / "report.md").string()
            << " when the merge job has run (squeue --me shows progress)\n";
  return 0;
}

std::function<int()> setup_slurm(CLI::App& app) {
  auto args = std::make_shared<SlurmArgs>();
  app.add_option("CONFIG", args->config, "Experiment config (JSON)")->required()->check(CLI::ExistingFile);
  app.add_option("--shards", args->shards,
                 "Array tasks; each runs one shard of the trials, balanced by expected cost (default: one "
                 "per trial, at most 1000)")
      ->check(CLI::PositiveNumber);
  app.add_option("--out", args->out,
                 "Run directory on a filesystem every node sees (default: runs/<name> under the current "
                 "directory)");
  app.add_option("--set", args->overrides, "KEY=VALUE override passed on to every task (repeatable)");
  app.add_option("--partition", args->partition, "Slurm partition (default: the cluster's default)");
  app.add_option("--time", args->time, "Time limit per array task, e.g. 2:00:00 (default: the partition's)");
  app.add_option("--cpus-per-task", args->cpus_per_task, "CPUs per array task; also bnlab's --threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option(
      "--extra", args->extra,
      "Further sbatch options for both jobs, e.g. --extra \"--account=lab --mem=4G\" (repeatable)");
  app.add_flag("--submit", args->submit, "Submit the array and the dependent merge job with sbatch");
  app.add_flag("--wait", args->wait, "With --submit: wait for the merge job and exit with its status");
  return [args] {
    using namespace bnlab::experiment;
    if (args->wait && !args->submit) throw ConfigError("slurm: --wait only applies with --submit");
    const Experiment experiment = load_experiment(args->config, args->overrides);
    const std::size_t trials = experiment.trials.size();
    if (trials == 0) throw ConfigError("slurm: " + args->config + " plans no trials");
    std::size_t shards = args->shards ? args->shards : std::min(trials, kDefaultMaxShards);
    if (shards > trials) {
      std::cerr << "bnlab slurm: " << shards << " shards for " << trials
                << " trials would leave tasks idle; using " << trials << "\n";
      shards = trials;
    }

    SlurmJobSpec spec;
    spec.binary = this_executable().string();
    spec.config = fs::absolute(args->config).lexically_normal().string();
    const fs::path out_dir =
        fs::absolute(args->out.empty() ? fs::path("runs") / experiment.name : fs::path(args->out))
            .lexically_normal();
    spec.out_dir = out_dir.string();
    spec.work_dir = fs::current_path().string();
    spec.overrides = args->overrides;
    spec.shards = shards;
    spec.job_name = job_name_for(experiment.name);
    spec.partition = args->partition;
    spec.time_limit = args->time;
    spec.cpus_per_task = args->cpus_per_task;
    for (const auto& text : args->extra)
      for (auto& option : split_sbatch_options(text)) spec.extra.push_back(option);

    // Slurm does not create the directories of --output: a missing one makes tasks fail without a log.
    const fs::path logs = slurm_dir(spec.out_dir);
    fs::create_directories(logs);
    const fs::path array_script = logs / "array.sbatch", merge_script = logs / "merge.sbatch";
    write_script(array_script, slurm_array_script(spec));
    write_script(merge_script, slurm_merge_script(spec));
    std::cout << "wrote " << array_script.string() << " (" << shards << " array tasks for " << trials
              << " trials, shards balanced by expected cost)\n"
              << "wrote " << merge_script.string() << "\n";
    if (args->submit) return submit(*args, array_script, merge_script, logs, shards);
    std::cout << "submit both with --submit, or by hand:\n"
              << "  array=$(sbatch --parsable " << array_script.string() << ")\n"
              << "  sbatch --dependency=afterany:${array%%;*} " << merge_script.string() << "\n"
              << "re-submitting after a partial run runs only the unfinished trials: every task runs with "
                 "--resume\n";
    return 0;
  };
}

const CommandRegistrar registrar{
    "slurm", "Write (and with --submit, submit) a Slurm job array that runs a sweep, plus its merge job",
    setup_slurm, 40};

}  // namespace
}  // namespace bnlab::app
