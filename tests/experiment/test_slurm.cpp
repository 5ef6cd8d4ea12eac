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

using namespace bnlab;
using experiment::SlurmJobSpec;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed when the test ends.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "bnlab-slurm-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

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
  TempDir dir;
  const fs::path fake = dir.path / "fake-bnlab";
  write_file(fake, "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n");
  fs::permissions(fake, fs::perms::owner_all);
  SlurmJobSpec spec = example_spec();
  spec.binary = fake.string();
  spec.shards = 5;
  spec.overrides = {"train.epochs=2", "name=it's"};
  write_file(dir.path / "array.sbatch", experiment::slurm_array_script(spec));

  for (int task : {0, 4}) {
    CommandResult r = run_command("SLURM_ARRAY_TASK_ID=" + std::to_string(task) + " bash " +
                                  (dir.path / "array.sbatch").string());
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
      run_command("env -u SLURM_ARRAY_TASK_ID bash " + (dir.path / "array.sbatch").string());
  CHECK(outside.status != 0);
  CHECK(outside.output.find("submit this script with sbatch") != std::string::npos);
}

TEST_CASE("slurm/merge script runs bnlab merge with its own logs", "[slurm]") {
  SlurmJobSpec spec = example_spec();
  spec.partition = "short";
  spec.extra = {"--account=lab42"};
  const std::string script = experiment::slurm_merge_script(spec);
  CHECK(has_line(script, "#SBATCH --job-name=bnlab-bn-vs-dropout-merge"));
  CHECK(has_line(script, "#SBATCH --partition=short"));
  CHECK(has_line(script, "#SBATCH --account=lab42"));
  CHECK(has_line(script, "#SBATCH --output=/scratch/ana/runs/bn-vs-dropout/slurm/merge-%j.out"));
  CHECK(script.find("--array") == std::string::npos);
  CHECK(has_line(script, "exec '/opt/bnlab/bin/bnlab' merge '/scratch/ana/runs/bn-vs-dropout' --shards 3"));
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
