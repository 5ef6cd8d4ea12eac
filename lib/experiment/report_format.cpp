// Report rendering. Markdown shows accuracies in percent; CSV and JSON keep the logged fractions.
#include "experiment/report_format.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "experiment/report_claims.hpp"

namespace bnlab::experiment {

namespace {

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string short_number(const std::optional<double>& v) {
  if (!v) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", *v);
  return buf;
}

// "88.12 ± 0.31"; the ± part only with 2 or more seeds.
std::string cell(const Stat& s, double scale, int decimals) {
  if (s.n == 0) return "–";
  std::string text = fixed(s.mean * scale, decimals);
  if (s.n >= 2) text += " ± " + fixed(s.std * scale, decimals);
  return text;
}

std::string short_key(const std::string& key) {
  return key.substr(key.rfind('.') + 1);
}

std::string setting_text(const Setting& setting) {
  if (setting.empty()) return "(only setting)";
  std::string text;
  for (const auto& [key, value] : setting) text += (text.empty() ? "" : ", ") + short_key(key) + "=" + value;
  return text;
}

bool lr_is_swept(const Report& rep) {
  for (const std::string& k : rep.swept_keys)
    if (k == "train.optimizer.lr") return true;
  return false;
}

bool is_best(const Report& rep, std::size_t gi) {
  for (const VariantSummary& v : rep.variants)
    if (v.best_group && *v.best_group == gi) return true;
  return false;
}

const VariantSummary* variant_of(const Report& rep, const std::string& name) {
  for (const VariantSummary& v : rep.variants)
    if (v.name == name) return &v;
  return nullptr;
}

std::string table_row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const std::string& c : cells) row += " " + c + " |";
  return row + "\n";
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}
std::string csv_number(const std::optional<double>& v) {
  return v ? csv_number(*v) : "";
}

template <class T>
nlohmann::json optional_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json setting_json(const Setting& setting) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, value] : setting) j[key] = value;
  return j;
}

}  // namespace

ReportFormat parse_report_format(const std::string& name) {
  if (name == "md") return ReportFormat::Markdown;
  if (name == "csv") return ReportFormat::Csv;
  if (name == "json") return ReportFormat::Json;
  throw ConfigError("--format: unknown format '" + name + "' (expected md, csv or json)");
}

std::string render_markdown(const Report& rep) {
  std::ostringstream md;
  md << "# bnlab report: " << rep.run_name << "\n\n";
  md << "- Run directory: `" << rep.run_dir << "`\n";
  if (!rep.dataset.empty()) md << "- Dataset: " << rep.dataset << "\n";
  md << "- Target accuracy: "
     << (rep.target_accuracy ? fixed(*rep.target_accuracy * 100, 2) + "% (" + rep.target_source + ")"
                             : "none")
     << "\n";
  std::string swept;
  for (const std::string& k : rep.swept_keys) swept += (swept.empty() ? "`" : ", `") + k + "`";
  md << "- Swept: " << (swept.empty() ? "nothing" : swept) << "\n";
  md << "- Trials: " << rep.planned << " planned: " << rep.done << " done, " << rep.diverged << " diverged, "
     << rep.failed << " failed, " << rep.unfinished << " not finished, " << rep.missing << " missing\n\n";
  if (rep.partial())
    md << "> **Partial report:** " << rep.failed + rep.unfinished + rep.missing << " of " << rep.planned
       << " trials have no result yet or failed; the numbers below use the finished trials only (see "
          "\"Missing, "
          "failed and diverged trials\").\n\n";

  md << "## Variants\n\n";
  md << "Best setting = highest mean final test accuracy among settings where no seed diverged. Largest "
        "stable "
        "lr = largest learning rate at which at least one seed finished and none diverged.\n\n";
  md << table_row({"variant", "norm", "dropout", "best setting", "final test acc (%)", "best test acc (%)",
                   "largest stable lr", "diverged from lr"});
  md << table_row({"---", "---", "---:", "---", "---:", "---:", "---:", "---:"});
  for (const VariantSummary& v : rep.variants) {
    const GroupSummary* g = v.best_group ? &rep.groups[*v.best_group] : nullptr;
    md << table_row({v.name, v.norm.empty() ? "?" : v.norm, short_number(v.dropout),
                     g ? setting_text(g->setting) +
                             (lr_is_swept(rep) || !g->lr ? "" : " (lr " + short_number(g->lr) + ")")
                       : "no finished trial",
                     g ? cell(g->final_test_acc, 100, 2) : "–", g ? cell(g->best_test_acc, 100, 2) : "–",
                     short_number(v.largest_stable_lr), short_number(v.smallest_diverged_lr)});
  }

  md << "\n## Results per variant and setting\n\n";
  md << "Mean ± std over the finished seeds. Epochs/steps to target average the seeds that reached it "
        "(reached/finished in brackets). Gaps: final train − test accuracy (train accuracy is measured in "
        "train "
        "mode, with dropout active), test − train loss, and probe accuracy in train mode − eval mode (the BN "
        "eval gap; train mode also applies dropout, which pulls it down). * marks each variant's best "
        "setting.\n\n";
  std::vector<std::string> header = {"variant"};
  for (const std::string& k : rep.swept_keys) header.push_back(short_key(k));
  bool lr_column = !lr_is_swept(rep);
  if (lr_column) header.push_back("lr");
  for (const char* h :
       {"seeds done", "best test acc (%)", "final test acc (%)", "epochs to target", "steps to target",
        "acc gap (pp)", "loss gap", "BN eval gap (pp)", "s/epoch", "samples/s", "not finished"})
    header.push_back(h);
  md << table_row(header);
  std::vector<std::string> align(header.size(), "---:");
  for (std::size_t i = 0; i <= rep.swept_keys.size(); ++i) align[i] = "---";
  align.back() = "---";
  md << table_row(align);
  for (std::size_t gi = 0; gi < rep.groups.size(); ++gi) {
    const GroupSummary& g = rep.groups[gi];
    std::vector<std::string> row = {g.variant + (is_best(rep, gi) ? " *" : "")};
    for (const std::string& k : rep.swept_keys) {
      std::string value = "–";
      for (const auto& [key, v] : g.setting)
        if (key == k) value = v;
      row.push_back(value);
    }
    if (lr_column) row.push_back(short_number(g.lr));
    row.push_back(std::to_string(g.done) + "/" + std::to_string(g.trials));
    row.push_back(cell(g.best_test_acc, 100, 2));
    row.push_back(cell(g.final_test_acc, 100, 2));
    std::string reached = " (" + std::to_string(g.reached_target) + "/" + std::to_string(g.done) + ")";
    bool has_target = rep.target_accuracy.has_value() && g.done > 0;
    row.push_back(has_target ? (g.reached_target ? cell(g.epochs_to_target, 1, 1) : "not reached") + reached
                             : "–");
    row.push_back(has_target && g.steps_to_target.n ? cell(g.steps_to_target, 1, 0) : "–");
    row.push_back(cell(g.acc_gap, 100, 2));
    row.push_back(cell(g.loss_gap, 1, 3));
    row.push_back(cell(g.bn_eval_gap, 100, 2));
    row.push_back(cell(g.seconds_per_epoch, 1, 2));
    row.push_back(cell(g.samples_per_s, 1, 0));
    std::string status;
    auto add = [&](std::size_t n, const char* what) {
      if (n) status += (status.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    };
    add(g.diverged, "diverged");
    add(g.failed, "failed");
    add(g.unfinished, "running/pending");
    add(g.missing, "missing");
    row.push_back(status.empty() ? "" : status);
    md << table_row(row);
  }

  md << "\n## Claims\n\n";
  md << "Rule: " << kVerdictRule << "\n\n";
  for (const Claim& c : rep.claims)
    md << "- **" << c.verdict << "**: " << c.statement << " (" << c.comparison << ").  \n  " << c.evidence
       << "\n";

  bool any_incomplete = rep.diverged + rep.failed + rep.unfinished + rep.missing > 0;
  md << "\n## Missing, failed and diverged trials\n\n";
  if (!any_incomplete) md << "None: every planned trial finished.\n";
  for (const TrialOutcome& t : rep.trials) {
    if (t.status == "done") continue;
    md << "- `" << t.id << "`: ";
    if (t.status == "missing")
      md << "missing (no folder or trials.csv row; never started)";
    else if (t.status == "diverged")
      md << "diverged"
         << (t.diverged_at_step ? " at step " + std::to_string(*t.diverged_at_step) : std::string());
    else if (t.status == "failed")
      md << "failed" << (t.error.empty() ? std::string() : ": " + t.error);
    else
      md << t.status << " (not finished)";
    md << "\n";
  }
  if (!rep.notes.empty()) {
    md << "\n## Notes\n\n";
    for (const std::string& n : rep.notes) md << "- " << n << "\n";
  }
  return md.str();
}

std::string render_csv(const Report& rep) {
  std::ostringstream out;
  std::vector<std::string> header = {"variant", "kind", "norm", "dropout"};
  for (const std::string& k : rep.swept_keys) header.push_back(k);
  for (const char* h : {"lr", "batch_size", "trials", "done", "diverged", "failed", "unfinished", "missing",
                        "is_best_setting", "target_accuracy", "reached_target"})
    header.push_back(h);
  const char* stats[] = {"best_test_acc",     "final_test_acc", "test_acc_epoch1", "epochs_to_target",
                         "steps_to_target",   "acc_gap",        "loss_gap",        "bn_eval_gap",
                         "seconds_per_epoch", "samples_per_s"};
  for (const char* s : stats)
    for (const char* part : {"_mean", "_std", "_n"}) header.push_back(std::string(s) + part);
  header.push_back("variant_best_lr");
  header.push_back("variant_largest_stable_lr");
  for (std::size_t i = 0; i < header.size(); ++i) out << (i ? "," : "") << csv_cell(header[i]);
  out << "\n";

  for (std::size_t gi = 0; gi < rep.groups.size(); ++gi) {
    const GroupSummary& g = rep.groups[gi];
    std::vector<std::string> row = {g.variant, g.kind, g.norm, csv_number(g.dropout)};
    for (const std::string& k : rep.swept_keys) {
      std::string value;
      for (const auto& [key, v] : g.setting)
        if (key == k) value = v;
      row.push_back(value);
    }
    row.push_back(csv_number(g.lr));
    row.push_back(csv_number(g.batch_size));
    for (std::size_t n : {g.trials, g.done, g.diverged, g.failed, g.unfinished, g.missing})
      row.push_back(std::to_string(n));
    row.push_back(is_best(rep, gi) ? "1" : "0");
    row.push_back(csv_number(rep.target_accuracy));
    row.push_back(std::to_string(g.reached_target));
    for (const Stat* s :
         {&g.best_test_acc, &g.final_test_acc, &g.test_acc_epoch1, &g.epochs_to_target, &g.steps_to_target,
          &g.acc_gap, &g.loss_gap, &g.bn_eval_gap, &g.seconds_per_epoch, &g.samples_per_s}) {
      row.push_back(csv_number(s->mean));
      row.push_back(csv_number(s->std));
      row.push_back(std::to_string(s->n));
    }
    const VariantSummary* v = variant_of(rep, g.variant);
    row.push_back(v ? csv_number(v->best_lr) : "");
    row.push_back(v ? csv_number(v->largest_stable_lr) : "");
    for (std::size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_cell(row[i]);
    out << "\n";
  }
  return out.str();
}

nlohmann::json report_json(const Report& rep) {
  using nlohmann::json;
  json j;
  j["run"] = {{"dir", rep.run_dir},
              {"name", rep.run_name},
              {"dataset", rep.dataset},
              {"target_accuracy", optional_json(rep.target_accuracy)},
              {"target_source", rep.target_source},
              {"swept_keys", rep.swept_keys},
              {"partial", rep.partial()},
              {"trials",
               {{"planned", rep.planned},
                {"done", rep.done},
                {"diverged", rep.diverged},
                {"failed", rep.failed},
                {"unfinished", rep.unfinished},
                {"missing", rep.missing}}}};
  j["variants"] = json::array();
  for (const VariantSummary& v : rep.variants) {
    json best_setting = v.best_group ? setting_json(rep.groups[*v.best_group].setting) : json(nullptr);
    j["variants"].push_back({{"name", v.name},
                             {"kind", v.kind},
                             {"norm", v.norm},
                             {"dropout", v.dropout},
                             {"best_setting", best_setting},
                             {"best_lr", optional_json(v.best_lr)},
                             {"largest_stable_lr", optional_json(v.largest_stable_lr)},
                             {"smallest_diverged_lr", optional_json(v.smallest_diverged_lr)},
                             {"largest_lr_tried", optional_json(v.largest_lr_tried)},
                             {"lr_values_tried", v.lr_values_tried}});
  }
  j["groups"] = json::array();
  for (std::size_t gi = 0; gi < rep.groups.size(); ++gi) {
    const GroupSummary& g = rep.groups[gi];
    j["groups"].push_back({{"variant", g.variant},
                           {"kind", g.kind},
                           {"setting", setting_json(g.setting)},
                           {"lr", optional_json(g.lr)},
                           {"batch_size", optional_json(g.batch_size)},
                           {"is_best_setting", is_best(rep, gi)},
                           {"trials", g.trials},
                           {"done", g.done},
                           {"diverged", g.diverged},
                           {"failed", g.failed},
                           {"unfinished", g.unfinished},
                           {"missing", g.missing},
                           {"reached_target", g.reached_target},
                           {"best_test_acc", stat_json(g.best_test_acc)},
                           {"final_test_acc", stat_json(g.final_test_acc)},
                           {"test_acc_epoch1", stat_json(g.test_acc_epoch1)},
                           {"epochs_to_target", stat_json(g.epochs_to_target)},
                           {"steps_to_target", stat_json(g.steps_to_target)},
                           {"censored_epochs_to_target", stat_json(g.censored_epochs_to_target)},
                           {"acc_gap", stat_json(g.acc_gap)},
                           {"loss_gap", stat_json(g.loss_gap)},
                           {"bn_eval_gap", stat_json(g.bn_eval_gap)},
                           {"seconds_per_epoch", stat_json(g.seconds_per_epoch)},
                           {"samples_per_s", stat_json(g.samples_per_s)}});
  }
  j["verdict_rule"] = kVerdictRule;
  j["claims"] = json::array();
  for (const Claim& c : rep.claims)
    j["claims"].push_back({{"key", c.key},
                           {"statement", c.statement},
                           {"comparison", c.comparison},
                           {"verdict", c.verdict},
                           {"evidence", c.evidence},
                           {"numbers", c.numbers}});
  j["trials"] = json::array();
  for (const TrialOutcome& t : rep.trials)
    j["trials"].push_back({{"id", t.id},
                           {"variant", t.variant},
                           {"seed", t.seed},
                           {"setting", setting_json(t.setting)},
                           {"status", t.status},
                           {"error", t.error},
                           {"diverged_at_step", optional_json(t.diverged_at_step)},
                           {"epochs_run", optional_json(t.epochs_run)},
                           {"epochs_to_target", optional_json(t.epochs_to_target)},
                           {"steps_to_target", optional_json(t.steps_to_target)},
                           {"best_test_acc", optional_json(t.best_test_acc)},
                           {"final_test_acc", optional_json(t.final_test_acc)}});
  j["notes"] = rep.notes;
  return j;
}

std::string render_report(const Report& rep, ReportFormat format) {
  switch (format) {
    case ReportFormat::Markdown:
      return render_markdown(rep);
    case ReportFormat::Csv:
      return render_csv(rep);
    case ReportFormat::Json:
      return report_json(rep).dump(2) + "\n";
  }
  return {};
}

void write_report_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw RunDirError(path + ": cannot write the report (cannot create " + tmp + ")");
    out << text;
    if (!out.flush()) throw RunDirError(path + ": cannot write the report (write failed)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw RunDirError(path + ": cannot write the report (" + ec.message() + ")");
}

}  // namespace bnlab::experiment
