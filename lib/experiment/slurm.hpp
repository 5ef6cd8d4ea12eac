// Slurm batch scripts for a sweep: a job array (one task per shard) and the dependent merge job, as text.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace bnlab::experiment {

// Everything the two scripts need. Paths must be absolute: jobs start on other nodes, in other directories.
struct SlurmJobSpec {
  std::string binary;    // the bnlab executable
  std::string config;    // the experiment config file
  std::string out_dir;   // the run directory every task writes into (on a shared filesystem)
  std::string work_dir;  // where the jobs start, so relative data paths in the config resolve as locally
  std::vector<std::string> overrides;  // KEY=VALUE, passed on to `bnlab run --set`
  std::size_t shards = 1;              // array tasks; task i (0-based) runs shard i+1 of `shards`
  std::string job_name;                // the merge job gets "<job_name>-merge"
  std::string partition;               // empty: the cluster's default partition
  std::string time_limit;              // Slurm time format ("90", "2:00:00", "1-12"); empty: the default
  int cpus_per_task = 1;               // also bnlab's --threads inside the task
  std::vector<std::string> extra;      // further sbatch options, one "#SBATCH <option>" line each
};

// The job array script: `--array=0-(shards-1)`, each task running
// `bnlab run CONFIG --shard $((SLURM_ARRAY_TASK_ID+1))/shards --resume --out OUT_DIR`.
// Throws ConfigError naming the offending field when the spec cannot make a valid script.
std::string slurm_array_script(const SlurmJobSpec& spec);

// The merge script: `bnlab merge OUT_DIR --config CONFIG [--set ...] --shards N` (the config lets it name
// trials no task started and the shard of each unfinished trial); submit it with --dependency=afterany:<array
// job id> so that it runs even when some tasks failed.
std::string slurm_merge_script(const SlurmJobSpec& spec);

// Where the scripts and the tasks' logs go: OUT_DIR/slurm.
std::string slurm_dir(const std::string& out_dir);

// Splits the text of --extra into sbatch options: each word starting with '-' begins a new option, other
// words belong to the option before ("--mem 4G --qos=long" → {"--mem 4G", "--qos=long"}); newlines and
// ';' also separate options, and a leading "#SBATCH" is dropped. Throws ConfigError for a stray word.
std::vector<std::string> split_sbatch_options(const std::string& text);

// The job id from `sbatch --parsable` output ("1234" or "1234;cluster"). Throws Error when there is none.
std::string parse_sbatch_job_id(const std::string& parsable_output);

// Quotes a word for a POSIX shell (single quotes; a single quote becomes '\'').
std::string shell_quote(const std::string& word);

}  // namespace bnlab::experiment
