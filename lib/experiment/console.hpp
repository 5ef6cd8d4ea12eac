// Terminal output of `bnlab run`: a progress line per trial and the closing comparison table.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "experiment/run_log.hpp"
#include "experiment/trainer.hpp"

namespace bnlab::experiment {

// Where a trial stands after an epoch; crosses the pipe from a forked trial process as one line.
struct Progress {
  std::string trial;
  int epoch = 0, epochs = 0;
  std::optional<double> train_loss, train_acc, test_acc;
  double elapsed_seconds = 0;
};
std::string encode_progress(const Progress& p);                    // one line, no newline
std::optional<Progress> decode_progress(const std::string& line);  // nullopt for a malformed line

// "42s", "3m07s", "1h02m".
std::string format_duration(double seconds);

class Console {
 public:
  // in_place: rewrite the current line with \r (a terminal); otherwise print every update as a line.
  Console(std::ostream& out, bool in_place);
  static bool stdout_is_terminal();

  // The trials this process will run, in order (numbers the progress lines), and how many a resumed
  // run skipped.
  void begin(const std::vector<std::string>& trials, std::size_t skipped, const std::string& run_dir,
             int jobs, int threads_per_job);
  void progress(const Progress& p);
  // A trial ended: done, diverged (with the step) or failed (with the error), shown at once.
  void trial_ended(const std::string& trial, const TrialSummary& summary);
  void message(const std::string& text);
  // Per variant and swept values: mean ± std over seeds of best and final test accuracy, epochs to
  // target and seconds, from the finished trials of the run directory.
  void comparison_table(const std::vector<LoggedTrial>& records);

 private:
  std::string label(const std::string& trial) const;
  void end_line();
  std::ostream& out_;
  bool in_place_;
  bool line_open_ = false;
  std::map<std::string, std::size_t> position_;
  std::size_t count_ = 0;
};

// Feeds a trial's epochs to a Console as progress (trials run in this process).
class ConsoleProgress : public TrainObserver {
 public:
  explicit ConsoleProgress(Console& console) : console_(console) {}
  void on_start(const TrialInfo& info) override { trial_ = info.trial; }
  void on_epoch(const EpochReport& report) override;

 private:
  Console& console_;
  std::string trial_;
};

// The Progress of an epoch report (train and test rows picked out).
Progress progress_of(const std::string& trial, const EpochReport& report);

}  // namespace bnlab::experiment
