// Progress lines (in place on a terminal, plain in a log) and the variant comparison table.
#include "experiment/console.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

namespace bnlab::experiment {

namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string percent(double v) {
  return fixed(100.0 * v, 2) + "%";
}

struct MeanStd {
  double mean = 0, std = 0;
  std::size_t n = 0;
};

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd m;
  m.n = v.size();
  if (v.empty()) return m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - m.mean) * (x - m.mean);
    m.std = std::sqrt(ss / static_cast<double>(v.size() - 1));  // sample std over seeds
  }
  return m;
}

std::string mean_std_cell(const std::vector<double>& v, double scale, int decimals) {
  if (v.empty()) return "-";
  const MeanStd m = mean_std(v);
  std::string s = fixed(scale * m.mean, decimals);
  if (m.n > 1) s += " ± " + fixed(scale * m.std, decimals);
  return s;
}

// Display width in terminal columns: UTF-8 continuation bytes take none.
std::size_t display_width(const std::string& s) {
  std::size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

std::string pad(const std::string& s, std::size_t width, bool right) {
  const std::size_t w = display_width(s);
  if (w >= width) return s;
  const std::string fill(width - w, ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

std::string encode_progress(const Progress& p) {
  nlohmann::json j{
      {"trial", p.trial}, {"epoch", p.epoch}, {"epochs", p.epochs}, {"elapsed", p.elapsed_seconds}};
  const auto put = [&j](const char* key, const std::optional<double>& v) {
    j[key] = v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json();
  };
  put("train_loss", p.train_loss);
  put("train_acc", p.train_acc);
  put("test_acc", p.test_acc);
  return j.dump();
}

std::optional<Progress> decode_progress(const std::string& line) {
  try {
    const auto j = nlohmann::json::parse(line);
    Progress p;
    p.trial = j.at("trial").get<std::string>();
    p.epoch = j.at("epoch").get<int>();
    p.epochs = j.at("epochs").get<int>();
    p.elapsed_seconds = j.at("elapsed").get<double>();
    const auto get = [&j](const char* key) -> std::optional<double> {
      if (!j.contains(key) || j[key].is_null()) return std::nullopt;
      return j[key].get<double>();
    };
    p.train_loss = get("train_loss");
    p.train_acc = get("train_acc");
    p.test_acc = get("test_acc");
    return p;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

Console::Console(std::ostream& out, bool in_place) : out_(out), in_place_(in_place) {}

bool Console::stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}

void Console::begin(const std::vector<std::string>& trials, std::size_t skipped, const std::string& run_dir,
                    int jobs, int threads_per_job) {
  position_.clear();
  for (std::size_t i = 0; i < trials.size(); ++i) position_[trials[i]] = i + 1;
  count_ = trials.size();
  out_ << "bnlab run: " << trials.size() << " trial" << (trials.size() == 1 ? "" : "s") << " to run";
  if (skipped) out_ << ", " << skipped << " already finished (skipped)";
  out_ << "; " << jobs << " at a time, " << threads_per_job << " thread" << (threads_per_job == 1 ? "" : "s")
       << " each; logs in " << run_dir << "\n";
  out_.flush();
}

std::string Console::label(const std::string& trial) const {
  const auto it = position_.find(trial);
  const std::string total = std::to_string(count_);
  std::string index = it == position_.end() ? "?" : std::to_string(it->second);
  return "[" + pad(index, total.size(), true) + "/" + total + "] " + trial;
}

void Console::end_line() {
  if (line_open_) out_ << "\n";
  line_open_ = false;
}

void Console::progress(const Progress& p) {
  std::string line = label(p.trial) + "  epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs);
  if (p.train_loss) line += "  loss " + fixed(*p.train_loss, 4);
  if (p.train_acc) line += "  acc " + percent(*p.train_acc);
  if (p.test_acc) line += "  test " + percent(*p.test_acc);
  if (p.epoch > 0 && p.epoch < p.epochs)
    line += "  left " + format_duration(p.elapsed_seconds / p.epoch * (p.epochs - p.epoch));
  if (in_place_) {
    out_ << "\r\033[K" << line;  // \033[K clears what a longer previous line left behind
    line_open_ = true;
  } else {
    out_ << line << "\n";
  }
  out_.flush();
}

void Console::trial_ended(const std::string& trial, const TrialSummary& s) {
  if (in_place_ && line_open_) out_ << "\r\033[K";
  line_open_ = false;
  std::string line = label(trial) + "  ";
  if (s.status == "done") {
    line += "done";
    if (s.best_test_acc)
      line += "  best test " + percent(*s.best_test_acc) + " (epoch " +
              std::to_string(s.best_epoch.value_or(0)) + ")";
    if (s.final_test_acc) line += "  final " + percent(*s.final_test_acc);
  } else if (s.status == "diverged") {
    line += "DIVERGED at step " + std::to_string(s.diverged_at_step.value_or(0)) + " (epoch " +
            std::to_string(s.epochs_run + 1) + ")";
  } else {
    line += "FAILED: " + s.error;
  }
  line += "  " + format_duration(s.seconds);
  out_ << line << "\n";
  out_.flush();
}

void Console::message(const std::string& text) {
  if (in_place_ && line_open_) out_ << "\r\033[K";
  line_open_ = false;
  out_ << text << "\n";
  out_.flush();
}

void Console::comparison_table(const std::vector<LoggedTrial>& records) {
  end_line();
  struct Group {
    std::string variant;
    std::vector<std::string> swept;
    std::size_t seeds = 0, diverged = 0, reached = 0;
    std::vector<double> best, final, to_target, seconds;
  };
  std::vector<std::string> keys;
  for (const auto& r : records)
    for (const auto& [k, v] : r.swept)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);

  std::vector<Group> groups;
  std::size_t failed = 0, unfinished = 0;
  for (const auto& r : records) {
    if (r.status == "failed") ++failed;
    if (!is_finished(r.status) || !r.summary) {
      if (r.status != "failed") ++unfinished;
      continue;
    }
    std::vector<std::string> swept;
    for (const auto& k : keys) {
      std::string cell;
      for (const auto& [key, v] : r.swept)
        if (key == k) cell = v.is_string() ? v.get<std::string>() : v.dump();
      swept.push_back(cell);
    }
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.variant == r.variant && g.swept == swept; });
    if (it == groups.end()) {
      groups.emplace_back();
      groups.back().variant = r.variant;
      groups.back().swept = swept;
      it = groups.end() - 1;
    }
    const TrialSummary& s = *r.summary;
    ++it->seeds;
    if (s.status == "diverged") ++it->diverged;
    if (s.best_test_acc) it->best.push_back(*s.best_test_acc);
    if (s.final_test_acc) it->final.push_back(*s.final_test_acc);
    if (s.epochs_to_target) it->to_target.push_back(*s.epochs_to_target);
    it->seconds.push_back(s.seconds);
  }
  if (groups.empty()) {
    out_ << "no finished trials to compare\n";
    return;
  }

  std::vector<std::string> header{"variant"};
  header.insert(header.end(), keys.begin(), keys.end());
  header.insert(header.end(),
                {"seeds", "diverged", "best test acc %", "final test acc %", "epochs to target", "seconds"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : groups) {
    std::vector<std::string> row{g.variant};
    row.insert(row.end(), g.swept.begin(), g.swept.end());
    std::string target = mean_std_cell(g.to_target, 1.0, 1);
    if (!g.to_target.empty() && g.to_target.size() < g.seeds)
      target += " (" + std::to_string(g.to_target.size()) + "/" + std::to_string(g.seeds) + ")";
    row.insert(row.end(),
               {std::to_string(g.seeds), std::to_string(g.diverged), mean_std_cell(g.best, 100.0, 2),
                mean_std_cell(g.final, 100.0, 2), target, mean_std_cell(g.seconds, 1.0, 1)});
    rows.push_back(row);
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = display_width(header[c]);
    for (const auto& row : rows) width[c] = std::max(width[c], display_width(row[c]));
  }
  const std::size_t text_columns = 1 + keys.size();  // variant and swept values read best left-aligned
  const auto print = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size(); ++c)
      out_ << (c ? "  " : "") << pad(row[c], width[c], c >= text_columns);
    out_ << "\n";
  };
  out_ << "\n";
  print(header);
  std::size_t total = 0;
  for (auto w : width) total += w;
  out_ << std::string(total + 2 * (width.size() - 1), '-') << "\n";
  for (const auto& row : rows) print(row);
  out_ << "mean ± std over seeds; epochs to target over the seeds that reached it (reached/seeds)\n";
  if (failed) out_ << failed << " trial" << (failed == 1 ? "" : "s") << " failed (see trials.csv)\n";
  if (unfinished) out_ << unfinished << " trial" << (unfinished == 1 ? "" : "s") << " not finished\n";
  out_.flush();
}

Progress progress_of(const std::string& trial, const EpochReport& report) {
  Progress p;
  p.trial = trial;
  p.epoch = report.epoch;
  p.epochs = report.epochs;
  p.elapsed_seconds = report.elapsed_seconds;
  for (const auto& r : report.rows) {
    if (r.split == "train") {
      p.train_loss = r.loss;
      p.train_acc = r.acc;
    }
    if (r.split == "test") p.test_acc = r.acc;
  }
  return p;
}

void ConsoleProgress::on_epoch(const EpochReport& report) {
  console_.progress(progress_of(trial_, report));
}

}  // namespace bnlab::experiment
