// Slurm support: the generated sbatch scripts, and a real one-node cluster running a sweep as a job array.
#include "experiment/slurm.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "experiment/csv_reader.hpp"
#include "support/temp_dir.hpp"

using namespace bnlab;
using experiment::SlurmJobSpec;
namespace fs = std::filesystem;

namespace {

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command and captures its output (the tests drive the bnlab binary and Slurm's commands).
CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text))
    if (l == line) return true;
  return false;
}

SlurmJobSpec example_spec() {
  SlurmJobSpec spec;
  spec.binary = "/opt/bnlab/bin/bnlab";
  spec.config = "/home/ana/configs/bn vs dropout.json";
  spec.out_dir = "/scratch/ana/runs/bn-vs-dropout";
  spec.work_dir = "/home/ana";
  spec.shards = 3;
  spec.job_name = "bnlab-bn-vs-dropout";
  return spec;
}

}  // namespace

TEST_CASE("slurm/array script has one task per shard and the job options", "[slurm]") {
  SlurmJobSpec spec = example_spec();
  spec.partition = "gpu";
  spec.time_limit = "1-02:00:00";
  spec.cpus_per_task = 4;
  spec.extra = {"--account=lab42", "--mem 8G"};
  const std::string script = experiment::slurm_array_script(spec);

  CHECK(script.rfind("#!/bin/bash\n", 0) == 0);
  CHECK(has_line(script, "#SBATCH --array=0-2"));
  CHECK(has_line(script, "#SBATCH --job-name=bnlab-bn-vs-dropout"));
  CHECK(has_line(script, "#SBATCH --partition=gpu"));
  CHECK(has_line(script, "#SBATCH --time=1-02:00:00"));
  CHECK(has_line(script, "#SBATCH --cpus-per-task=4"));
  CHECK(has_line(script, "#SBATCH --chdir=/home/ana"));
  CHECK(has_line(script, "#SBATCH --output=/scratch/ana/runs/bn-vs-dropout/slurm/array-%A_%a.out"));
  CHECK(has_line(script, "#SBATCH --error=/scratch/ana/runs/bn-vs-dropout/slurm/array-%A_%a.err"));
  CHECK(has_line(script, "#SBATCH --account=lab42"));
  CHECK(has_line(script, "#SBATCH --mem 8G"));
  // sbatch stops reading #SBATCH lines at the first command: every option must come before it.
  const auto last_option = script.rfind("#SBATCH");
  const auto first_command = script.find("\nset -eu");
  CHECK(last_option < first_command);
  CHECK(script.find("--shard \"$shard\" --resume --threads 4 --out '/scratch/ana/runs/bn-vs-dropout'") !=
        std::string::npos);
  CHECK(script.find("run '/home/ana/configs/bn vs dropout.json'") != std::string::npos);
}

TEST_CASE("slurm/array script leaves out unset partition and time", "[slurm]") {
  const std::string script = experiment::slurm_array_script(example_spec());
  CHECK(script.find("--partition") == std::string::npos);
  CHECK(script.find("--time") == std::string::npos);
  CHECK(has_line(script, "#SBATCH --cpus-per-task=1"));
}

TEST_CASE("slurm/array task i runs shard i+1 of N with the overrides", "[slurm]") {
  // Run the generated script with bash and a stand-in binary that prints its arguments.
  test::TempDir dir;
  const fs::path fake = dir.path() / "fake-bnlab";
  write_file(fake, "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n");
  fs::permissions(fake, fs::perms::owner_all);
  SlurmJobSpec spec = example_spec();
  spec.binary = fake.string();
  spec.shards = 5;
  spec.overrides = {"train.epochs=2", "name=it's"};
  write_file(dir.path() / "array.sbatch", experiment::slurm_array_script(spec));

  for (int task : {0, 4}) {
    CommandResult r = run_command("SLURM_ARRAY_TASK_ID=" + std::to_string(task) + " bash " +
                                  (dir.path() / "array.sbatch").string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    const std::string expected =
        "[run]\n[/home/ana/configs/bn vs dropout.json]\n[--set]\n[train.epochs=2]\n"
        "[--set]\n[name=it's]\n[--shard]\n[" +
        std::to_string(task + 1) +
        "/5]\n[--resume]\n[--threads]\n[1]\n[--out]\n"
        "[/scratch/ana/runs/bn-vs-dropout]\n";
    CHECK(r.output.substr(r.output.find("[run]")) == expected);
  }

  CommandResult outside =
      run_command("env -u SLURM_ARRAY_TASK_ID bash " + (dir.path() / "array.sbatch").string());
  CHECK(outside.status != 0);
  CHECK(outside.output.find("submit this script with sbatch") != std::string::npos);
}

TEST_CASE("slurm/merge script runs bnlab merge with its own logs", "[slurm]") {
  SlurmJobSpec spec = example_spec();
  spec.partition = "short";
  spec.extra = {"--account=lab42"};
  spec.overrides = {"train.epochs=2"};
  const std::string script = experiment::slurm_merge_script(spec);
  CHECK(has_line(script, "#SBATCH --job-name=bnlab-bn-vs-dropout-merge"));
  CHECK(has_line(script, "#SBATCH --partition=short"));
  CHECK(has_line(script, "#SBATCH --account=lab42"));
  CHECK(has_line(script, "#SBATCH --output=/scratch/ana/runs/bn-vs-dropout/slurm/merge-%j.out"));
  CHECK(script.find("--array") == std::string::npos);
  CHECK(has_line(script,
                 "exec '/opt/bnlab/bin/bnlab' merge '/scratch/ana/runs/bn-vs-dropout' --config "
                 "'/home/ana/configs/bn vs dropout.json' --set 'train.epochs=2' --shards 3"));
}

TEST_CASE("slurm/paths with blanks are quoted in #SBATCH lines", "[slurm]") {
  SlurmJobSpec spec = example_spec();
  spec.out_dir = "/scratch/my runs/x";
  const std::string script = experiment::slurm_array_script(spec);
  CHECK(has_line(script, "#SBATCH --output=\"/scratch/my runs/x/slurm/array-%A_%a.out\""));
}

TEST_CASE("slurm/invalid specs are errors naming the field", "[slurm]") {
  auto message_of = [](const SlurmJobSpec& spec) {
    try {
      experiment::slurm_array_script(spec);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  SlurmJobSpec spec = example_spec();
  spec.config = "configs/x.json";
  CHECK_THAT(message_of(spec), Catch::Contains("config 'configs/x.json' must be an absolute path"));
  spec = example_spec();
  spec.shards = 0;
  CHECK_THAT(message_of(spec), Catch::Contains("--shards"));
  spec = example_spec();
  spec.time_limit = "2h";
  CHECK_THAT(message_of(spec), Catch::Contains("--time '2h'"));
  spec = example_spec();
  spec.partition = "a b";
  CHECK_THAT(message_of(spec), Catch::Contains("--partition 'a b'"));
  spec = example_spec();
  spec.cpus_per_task = 0;
  CHECK_THAT(message_of(spec), Catch::Contains("--cpus-per-task"));
  spec = example_spec();
  spec.extra = {"mem=4G"};
  CHECK_THAT(message_of(spec), Catch::Contains("--extra option 'mem=4G'"));
  for (const char* good : {"90", "30:00", "2:00:00", "1-12", "1-12:30", "1-12:30:00", "UNLIMITED"}) {
    spec = example_spec();
    spec.time_limit = good;
    CHECK(message_of(spec) == "no error");
  }
}

TEST_CASE("slurm/extra options split into one #SBATCH line each", "[slurm]") {
  using V = std::vector<std::string>;
  CHECK(experiment::split_sbatch_options("--mem=4G --qos=long") == V{"--mem=4G", "--qos=long"});
  CHECK(experiment::split_sbatch_options("--mem 4G -A lab42") == V{"--mem 4G", "-A lab42"});
  CHECK(experiment::split_sbatch_options("#SBATCH --gres=gpu:1\n#SBATCH --exclusive") ==
        V{"--gres=gpu:1", "--exclusive"});
  CHECK(experiment::split_sbatch_options("--mem=1G; --constraint=avx512") ==
        V{"--mem=1G", "--constraint=avx512"});
  CHECK(experiment::split_sbatch_options("  ").empty());
  CHECK_THROWS_AS(experiment::split_sbatch_options("mem=4G"), ConfigError);
}

TEST_CASE("slurm/job id from sbatch --parsable", "[slurm]") {
  CHECK(experiment::parse_sbatch_job_id("4711\n") == "4711");
  CHECK(experiment::parse_sbatch_job_id("4711;cluster2\n") == "4711");
  CHECK_THROWS_AS(experiment::parse_sbatch_job_id("sbatch: error: Batch job submission failed\n"), Error);
  CHECK_THROWS_AS(experiment::parse_sbatch_job_id(""), Error);
}

TEST_CASE("slurm/shell quoting survives the shell", "[slurm]") {
  for (std::string word : {"plain", "with space", "it's", "$HOME `x` \"q\"", ""}) {
    CommandResult r = run_command("printf '%s' " + experiment::shell_quote(word));
    CHECK(r.output == word);
  }
}

namespace {

const std::string kClusterScript = std::string(BNLAB_SOURCE_DIR) + "/scripts/slurm/local_cluster.sh";
// Not Slurm's default 6817, so a system Slurm on the machine does not collide with the test's cluster.
const std::string kClusterPort = "16817";

// A small sweep on generated data: 2 variants × 2 learning rates × 2 seeds = 8 tiny trials.
const char* kSweepConfig = R"({
  "name": "slurm-sweep",
  "data": {"dataset": "synthetic",
           "synthetic": {"train": 128, "test": 64, "classes": 4, "height": 4, "width": 4}},
  "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "norm"},
                       {"type": "relu"}, {"type": "dense", "units": 4}]},
  "variants": {"plain": {"norm": "none"}, "batchnorm": {"norm": "batch"}},
  "train": {"epochs": 2, "batch_size": 32, "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}},
  "sweep": {"train.optimizer.lr": [0.05, 0.2]},
  "seeds": [1, 2],
  "metrics": {"target_accuracy": 0.5, "log_every_steps": 2}
})";

// Everything that explains a failed cluster run: the daemons' logs and the jobs' logs.
std::string cluster_logs(const fs::path& state, const fs::path& run_dir) {
  std::string text;
  for (const fs::path& dir : {state / "log", run_dir / "slurm"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() < 4 ||
          (name.substr(name.size() - 4) != ".log" && name.substr(name.size() - 4) != ".out" &&
           name.substr(name.size() - 4) != ".err"))
        continue;
      text += "----- " + entry.path().string() + " -----\n" + read_file(entry.path());
    }
  }
  return text;
}

std::vector<int> recorded_pids(const fs::path& state) {
  std::vector<int> pids;
  std::istringstream in(read_file(state / "pids"));
  std::string name;
  int pid;
  while (in >> name >> pid) pids.push_back(pid);
  return pids;
}

// A live process (not one that has exited and waits to be reaped).
bool process_runs(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

// Stops the cluster's daemons by their recorded PIDs however the test ends.
struct ClusterGuard {
  fs::path state;
  bool started = false;
  CommandResult stop() {
    started = false;
    return run_command("bash " + kClusterScript + " stop " + experiment::shell_quote(state.string()));
  }
  ~ClusterGuard() {
    if (started) stop();
  }
};

// trials.csv without the columns that measure time, which differ between any two runs.
std::vector<std::vector<std::string>> comparable_rows(const experiment::CsvTable& table) {
  std::vector<std::string> columns;
  for (const auto& c : table.header())
    if (c != "seconds" && c != "seconds_per_epoch" && c != "samples_per_s") columns.push_back(c);
  std::vector<std::vector<std::string>> rows{columns};
  for (std::size_t r = 0; r < table.size(); ++r) {
    std::vector<std::string> row;
    for (const auto& c : columns) row.push_back(table.text(r, c));
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST_CASE("slurm/the command writes both scripts with absolute paths", "[slurm]") {
  test::TempDir root;
  write_file(root.path() / "sweep.json", kSweepConfig);
  // A relative config, no --out and more shards than trials: paths become absolute, shards are capped.
  CommandResult r =
      run_command("cd " + experiment::shell_quote(root.path().string()) + " && " + BNLAB_BINARY +
                  " slurm sweep.json --shards 20 --partition debug --extra '--qos=short --mem 1G'");
  INFO(r.output);
  REQUIRE(r.status == 0);
  const fs::path logs = root.path() / "runs" / "slurm-sweep" / "slurm";
  const std::string array = read_file(logs / "array.sbatch");
  CHECK(has_line(array, "#SBATCH --array=0-7"));
  CHECK(has_line(array, "#SBATCH --chdir=" + root.path().string()));
  CHECK(has_line(array, "#SBATCH --partition=debug"));
  CHECK(has_line(array, "#SBATCH --qos=short"));
  CHECK(has_line(array, "#SBATCH --mem 1G"));
  CHECK_THAT(array, Catch::Contains("run " + experiment::shell_quote((root.path() / "sweep.json").string())));
  CHECK_THAT(array, Catch::Contains("--out " +
                                    experiment::shell_quote((root.path() / "runs/slurm-sweep").string())));
  CHECK_THAT(read_file(logs / "merge.sbatch"), Catch::Contains("--shards 8"));
  CHECK((fs::status(logs / "array.sbatch").permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK_THAT(r.output, Catch::Contains("sbatch --dependency=afterany:"));
  CHECK_THAT(r.output, Catch::Contains("using 8"));
}

TEST_CASE("slurm/--submit without sbatch is a clear error", "[slurm]") {
  test::TempDir root;
  write_file(root.path() / "sweep.json", kSweepConfig);
  CommandResult r =
      run_command("cd " + experiment::shell_quote(root.path().string()) + " && PATH=" + root.path().string() +
                  " " + BNLAB_BINARY + " slurm sweep.json --submit");
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("sbatch, which is not on PATH"));
  // The scripts are written anyway, to be submitted from a machine that has Slurm.
  CHECK(fs::exists(root.path() / "runs" / "slurm-sweep" / "slurm" / "array.sbatch"));
}

TEST_CASE("slurm/a sweep run as a 3-task array on a local cluster matches the local run",
          "[slurm][cluster]") {
  test::TempDir root;
  const fs::path config = root.path() / "sweep.json";
  write_file(config, kSweepConfig);
  const std::string bnlab = BNLAB_BINARY;
  const fs::path local_dir = root.path() / "local", cluster_dir = root.path() / "cluster-run";

  {  // The reference: the same sweep in one process, with the thread count the array tasks get.
    CommandResult local = run_command("cd " + experiment::shell_quote(root.path().string()) + " && " + bnlab +
                                      " run " + config.string() + " --threads 1 --out " + local_dir.string());
    INFO("bnlab run:\n" << local.output);
    REQUIRE(local.status == 0);
  }

  ClusterGuard cluster{root.path() / "cluster-state"};
  const std::string env = "LOCAL_SLURM_PORT=" + kClusterPort + " LOCAL_SLURM_CPUS=3 ";
  CommandResult start = run_command(env + "bash " + kClusterScript + " start " + cluster.state.string());
  cluster.started = fs::exists(cluster.state / "pids");
  INFO("local_cluster.sh start:\n" << start.output);
  // No silent skip: a cluster that cannot start fails the test with the daemons' logs (printed above).
  REQUIRE(start.status == 0);
  const std::vector<int> pids = recorded_pids(cluster.state);
  REQUIRE(pids.size() == 3);

  const std::string slurm_conf = "SLURM_CONF=" + (cluster.state / "slurm.conf").string() + " ";
  CommandResult submitted =
      run_command("cd " + experiment::shell_quote(root.path().string()) + " && " + slurm_conf +
                  "timeout 120 " + bnlab + " slurm " + config.string() + " --shards 3 --out " +
                  cluster_dir.string() + " --time 5 --submit --wait");
  INFO("bnlab slurm --submit --wait:\n" << submitted.output);
  INFO("logs:\n" << cluster_logs(cluster.state, cluster_dir));
  REQUIRE(submitted.status == 0);
  CHECK_THAT(submitted.output, Catch::Contains("submitted array job"));
  CHECK_THAT(submitted.output, Catch::Contains("submitted merge job"));

  // One log per array task, and the merge job's summary.
  std::size_t task_logs = 0;
  std::string merge_log;
  for (const auto& entry : fs::directory_iterator(cluster_dir / "slurm")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("array-", 0) == 0 && name.size() > 4 && name.substr(name.size() - 4) == ".out")
      ++task_logs;
    if (name.rfind("merge-", 0) == 0 && name.size() > 4 && name.substr(name.size() - 4) == ".out")
      merge_log = read_file(entry.path());
  }
  CHECK(task_logs == 3);
  CHECK_THAT(merge_log, Catch::Contains("8 planned trials: 8 done"));
  CHECK(fs::exists(cluster_dir / "report.md"));

  const auto expected = comparable_rows(experiment::read_csv((local_dir / "trials.csv").string()));
  const auto merged = comparable_rows(experiment::read_csv((cluster_dir / "trials.csv").string()));
  REQUIRE(expected.size() == 9);  // header and 8 trials
  CHECK(merged == expected);

  // The daemons stop by their PIDs.
  CommandResult stopped = cluster.stop();
  INFO("local_cluster.sh stop:\n" << stopped.output);
  CHECK(stopped.status == 0);
  for (int pid : pids) CHECK_FALSE(process_runs(pid));
}
