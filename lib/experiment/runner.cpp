// The sweep loop: plan the slice, check the run directory, then train trials in this process or in a
// pool of forked children that report progress through pipes.
#include "experiment/runner.hpp"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "experiment/data_cache.hpp"
#include "experiment/run_log.hpp"
#include "experiment/trainer.hpp"

namespace bnlab::experiment {

namespace fs = std::filesystem;

std::string Shard::text() const {
  return std::to_string(index + 1) + "/" + std::to_string(count);
}

namespace {

std::optional<long> parse_count(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 12)
    return std::nullopt;
  return std::stol(s);
}

}  // namespace

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  const auto i = slash == std::string::npos ? std::nullopt : parse_count(text.substr(0, slash));
  const auto n = slash == std::string::npos ? std::nullopt : parse_count(text.substr(slash + 1));
  if (!i || !n || *n < 1 || *i < 1 || *i > *n)
    throw ConfigError(
        "--shard: expected I/N with 1 <= I <= N (e.g. 2/8 for the second of eight shards), got \"" + text +
        "\"");
  return {static_cast<std::size_t>(*i - 1), static_cast<std::size_t>(*n)};
}

std::optional<Shard> shard_from_environment(const std::function<const char*(const char*)>& getenv) {
  const char* id_text = getenv("SLURM_ARRAY_TASK_ID");
  if (!id_text) return std::nullopt;
  const auto number = [&](const char* name, std::optional<long> fallback) -> long {
    const char* v = getenv(name);
    const auto parsed = v ? parse_count(v) : fallback;
    if (!parsed)
      throw ConfigError(std::string("SLURM_ARRAY_TASK_ID is set but ") + name + " is " +
                        (v ? "\"" + std::string(v) + "\"" : "missing") + ": run the shard with --shard I/N");
    return *parsed;
  };
  const long id = number("SLURM_ARRAY_TASK_ID", std::nullopt);
  const long count = number("SLURM_ARRAY_TASK_COUNT", std::nullopt);
  const long min = number("SLURM_ARRAY_TASK_MIN", 0L);
  const long step = std::max(1L, number("SLURM_ARRAY_TASK_STEP", 1L));
  if (count < 1 || id < min || (id - min) % step != 0 || (id - min) / step >= count)
    throw ConfigError(
        "Slurm array task " + std::to_string(id) + " (min " + std::to_string(min) + ", step " +
        std::to_string(step) + ", count " + std::to_string(count) +
        ") is not one of COUNT evenly spaced tasks; submit with --array=0-(N-1) or pass --shard I/N");
  return Shard{static_cast<std::size_t>((id - min) / step), static_cast<std::size_t>(count)};
}

std::optional<Shard> shard_from_environment() {
  return shard_from_environment([](const char* name) { return std::getenv(name); });
}

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
}

namespace {

// Sends each epoch's progress up the pipe to the parent, one line per message.
class PipeProgress : public TrainObserver {
 public:
  explicit PipeProgress(int fd) : fd_(fd) {}
  void on_start(const TrialInfo& info) override { trial_ = info.trial; }
  void on_epoch(const EpochReport& report) override {
    const std::string line = encode_progress(progress_of(trial_, report)) + "\n";
    // Short lines (< PIPE_BUF) arrive whole; a parent that went away only costs the progress.
    [[maybe_unused]] const ssize_t n = ::write(fd_, line.data(), line.size());
  }

 private:
  int fd_;
  std::string trial_;
};

class SweepRun {
 public:
  SweepRun(const Experiment& experiment, const RunOptions& options, Console* console)
      : experiment_(experiment), options_(options), console_(console) {}
  RunResult run();

 private:
  // Runs one trial with its log; failures become a failed status. Returns the trial's outcome.
  TrialSummary run_logged(const TrialSpec& trial, TrainObserver* progress);
  void run_in_process(const std::vector<const TrialSpec*>& trials);
  void run_forked(const std::vector<const TrialSpec*>& trials);
  // Records an ended trial: counts, console line, trials.csv.
  void ended(const TrialSpec& trial, const TrialSummary& summary);
  // The outcome a child left on disk, or a failure naming how the child died.
  TrialSummary collect(const TrialSpec& trial, int wait_status);

  const Experiment& experiment_;
  const RunOptions& options_;
  Console* console_;
  RunEnvironment env_;
  RunResult result_;
  int threads_per_job_ = 1;
  bool stop_ = false;
};

TrialSummary SweepRun::run_logged(const TrialSpec& trial, TrainObserver* progress) {
  std::optional<TrialLog> log;
  try {
    log.emplace(options_.out_dir, trial, experiment_.swept_keys, env_);
    std::vector<TrainObserver*> observers{&*log};
    if (progress) observers.push_back(progress);
    ObserverList all(observers);
    return run_trial(trial, all);
  } catch (const std::exception& e) {
    TrialSummary failed;
    failed.status = "failed";
    failed.error = e.what();
    try {
      if (log) {
        log->fail(e.what());
        if (auto written = read_summary(log->dir())) return *written;
      }
    } catch (const std::exception&) {
      // The directory itself is unusable; the console and the exit status still report the failure.
    }
    return failed;
  }
}

void SweepRun::ended(const TrialSpec& trial, const TrialSummary& summary) {
  if (summary.status == "done")
    ++result_.done;
  else if (summary.status == "diverged")
    ++result_.diverged;
  else
    ++result_.failed;
  if (console_) console_->trial_ended(trial.id, summary);
  try {
    rebuild_trials_csv(options_.out_dir);
  } catch (const Error& e) {
    if (console_) console_->message(std::string("warning: ") + e.what());
  }
  if (summary.status == "failed" && options_.fail_fast) stop_ = true;
}

void SweepRun::run_in_process(const std::vector<const TrialSpec*>& trials) {
  std::optional<ConsoleProgress> progress;
  if (console_) progress.emplace(*console_);
  for (const TrialSpec* t : trials) {
    if (stop_) break;
    ended(*t, run_logged(*t, progress ? &*progress : nullptr));
  }
}

TrialSummary SweepRun::collect(const TrialSpec& trial, int wait_status) {
  const fs::path dir = trial_dir(options_.out_dir, trial.id);
  std::optional<TrialSummary> summary;
  try {
    summary = read_summary(dir);
  } catch (const Error&) {
  }
  if (summary && (is_finished(summary->status) || summary->status == "failed")) return *summary;
  TrialSummary failed;
  failed.status = "failed";
  if (WIFSIGNALED(wait_status))
    failed.error = "trial process killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" +
                   strsignal(WTERMSIG(wait_status)) + ")";
  else
    failed.error = "trial process exited with status " + std::to_string(WEXITSTATUS(wait_status)) +
                   " without recording a result";
  if (auto status = read_status(dir)) failed.epochs_run = status->epochs_done;
  try {
    write_outcome(dir, trial.id, id_cells(trial, experiment_.swept_keys), env_, failed);
  } catch (const Error&) {
  }
  return failed;
}

void SweepRun::run_forked(const std::vector<const TrialSpec*>& trials) {
  struct Child {
    pid_t pid;
    int fd;
    const TrialSpec* trial;
    std::string pending;  // bytes of an incomplete progress line
  };
  std::vector<Child> running;
  std::size_t next = 0;
  const pid_t parent = ::getpid();
  std::cout.flush();  // nothing buffered may be printed twice by a child

  while ((!stop_ && next < trials.size()) || !running.empty()) {
    while (!stop_ && next < trials.size() && static_cast<int>(running.size()) < options_.jobs) {
      const TrialSpec* trial = trials[next++];
      int fds[2];
      if (::pipe(fds) != 0) throw RunError(std::string("cannot create a pipe: ") + std::strerror(errno));
      const pid_t pid = ::fork();
      if (pid < 0) throw RunError(std::string("cannot fork a trial process: ") + std::strerror(errno));
      if (pid == 0) {
        // A trial must never outlive its runner: a killed sweep is resumed, and an orphan would keep
        // writing into the folder the resumed run starts afresh.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        ::close(fds[0]);
        for (const auto& c : running) ::close(c.fd);
        core::set_threads(threads_per_job_);
        PipeProgress progress(fds[1]);
        run_logged(*trial, &progress);
        ::close(fds[1]);
        // _exit: the parent's buffers and atexit handlers belong to the parent.
        ::_exit(0);
      }
      ::close(fds[1]);
      running.push_back({pid, fds[0], trial, {}});
    }

    std::vector<pollfd> polls;
    for (const auto& c : running) polls.push_back({c.fd, POLLIN, 0});
    if (::poll(polls.data(), polls.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw RunError(std::string("poll failed: ") + std::strerror(errno));
    }
    for (std::size_t i = polls.size(); i-- > 0;) {
      if (!(polls[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Child& c = running[i];
      char buf[4096];
      const ssize_t n = ::read(c.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        c.pending.append(buf, static_cast<std::size_t>(n));
        for (auto eol = c.pending.find('\n'); eol != std::string::npos; eol = c.pending.find('\n')) {
          const auto progress = decode_progress(c.pending.substr(0, eol));
          c.pending.erase(0, eol + 1);
          if (progress && console_) console_->progress(*progress);
        }
        continue;
      }
      // End of the pipe: the child has exited (or is exiting).
      ::close(c.fd);
      int wait_status = 0;
      while (::waitpid(c.pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      const TrialSpec* trial = c.trial;
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      ended(*trial, collect(*trial, wait_status));
    }
  }
}

RunResult SweepRun::run() {
  if (options_.jobs < 1)
    throw ConfigError("--jobs: must be at least 1, got " + std::to_string(options_.jobs));
  if (options_.threads < 0)
    throw ConfigError("--threads: must be at least 1, got " + std::to_string(options_.threads));
  const std::vector<TrialSpec> slice =
      options_.shard ? select_shard(experiment_.trials, options_.shard->index, options_.shard->count)
                     : experiment_.trials;
  result_.trials = slice.size();
  const int threads = options_.threads > 0 ? options_.threads : available_cpus();

  std::error_code ec;
  fs::create_directories(options_.out_dir, ec);
  if (ec) throw RunError("cannot create " + options_.out_dir.string() + ": " + ec.message());
  env_ = current_environment(threads, options_.jobs, options_.shard ? options_.shard->text() : "");
  write_experiment_json(options_.out_dir, experiment_, env_);

  std::vector<const TrialSpec*> to_run;
  std::vector<std::string> finished;
  for (const auto& t : slice) {
    const auto status = read_status(trial_dir(options_.out_dir, t.id));
    if (status && is_finished(status->status))
      finished.push_back(t.id);
    else
      to_run.push_back(&t);
  }
  if (!finished.empty() && !options_.resume)
    throw RunError(options_.out_dir.string() + " already holds " + std::to_string(finished.size()) +
                   " finished trial(s) of this run (e.g. " + finished.front() +
                   "); use --resume to continue it or --out DIR for a new run");
  result_.skipped = finished.size();

  // A dataset that cannot be loaded stops the run before anything trains; loading here also lets
  // forked children share the parent's copy.
  for (const TrialSpec* t : to_run) load_data_cached(t->data);

  for (const TrialSpec* t : to_run) {
    const fs::path dir = trial_dir(options_.out_dir, t->id);
    fs::create_directories(dir, ec);
    if (ec) throw RunError("cannot create " + dir.string() + ": " + ec.message());
    TrialStatus pending;
    pending.trial = t->id;
    write_status(dir, pending);
  }
  rebuild_trials_csv(options_.out_dir);

  const int jobs = std::max(1, std::min<int>(options_.jobs, static_cast<int>(to_run.size())));
  threads_per_job_ = std::max(1, threads / jobs);
  if (console_) {
    std::vector<std::string> ids;
    for (const TrialSpec* t : to_run) ids.push_back(t->id);
    console_->begin(ids, result_.skipped, options_.out_dir.string(), jobs, threads_per_job_);
  }
  if (jobs == 1) {
    const int previous = core::threads();
    core::set_threads(threads_per_job_);
    run_in_process(to_run);
    core::set_threads(previous);
  } else {
    run_forked(to_run);
  }
  result_.not_run = result_.trials - result_.skipped - result_.done - result_.diverged - result_.failed;
  rebuild_trials_csv(options_.out_dir);
  if (console_) console_->comparison_table(read_logged_trials(options_.out_dir));
  return result_;
}

}  // namespace

RunResult run_experiment(const Experiment& experiment, const RunOptions& options, Console* console) {
  SweepRun run(experiment, options, console);
  return run.run();
}

}  // namespace bnlab::experiment
