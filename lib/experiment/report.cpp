// Report statistics: trial outcomes against the target, groups over seeds, per-variant learning rates.
#include "experiment/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "experiment/report_claims.hpp"

namespace bnlab::experiment {

namespace {

bool same_value(std::optional<double> a, std::optional<double> b) {
  return a && b && std::fabs(*a - *b) <= 1e-12;
}

TrialOutcome outcome_of(const TrialRecord& t, std::optional<double> target) {
  TrialOutcome o;
  o.id = t.id;
  o.variant = t.variant;
  o.status = t.status;
  o.error = t.error;
  o.seed = t.seed;
  o.setting = t.swept;
  o.diverged_at_step = t.diverged_at_step;
  o.epochs_run = t.epochs_run;
  o.target = target;
  o.best_test_acc = t.best_test_acc;
  o.final_test_acc = t.final_test_acc;
  if (!target) return o;
  // trials.csv measured against the trial's own target; reuse it only when the target is the same.
  bool own_target = same_value(target, t.target_accuracy);
  if (!t.epochs.empty()) {
    for (const EpochRow& row : t.epochs)
      if (row.split == "test" && row.acc && *row.acc >= *target &&
          (!o.epochs_to_target || row.epoch < *o.epochs_to_target))
        o.epochs_to_target = row.epoch;
  } else if (own_target && t.logged_epochs_to_target) {
    o.epochs_to_target = std::lround(*t.logged_epochs_to_target);
  }
  if (!o.epochs_to_target) return o;
  long e = *o.epochs_to_target;
  if (own_target && t.logged_steps_to_target && t.logged_epochs_to_target &&
      std::lround(*t.logged_epochs_to_target) == e)
    o.steps_to_target = std::lround(*t.logged_steps_to_target);
  else if (auto it = t.steps_at_epoch_end.find(e); it != t.steps_at_epoch_end.end())
    o.steps_to_target = it->second;
  else if (t.steps_per_epoch)
    o.steps_to_target = std::lround(e * *t.steps_per_epoch);
  return o;
}

// Swept values compare as numbers where both are numbers, so lr 0.03 sorts before 0.1.
bool value_less(const std::string& a, const std::string& b) {
  char *ea = nullptr, *eb = nullptr;
  double da = std::strtod(a.c_str(), &ea), db = std::strtod(b.c_str(), &eb);
  bool na = !a.empty() && *ea == '\0', nb = !b.empty() && *eb == '\0';
  if (na && nb) return da < db;
  if (na != nb) return na;
  return a < b;
}

}  // namespace

Stat summarize(const std::vector<double>& values) {
  Stat s;
  s.n = values.size();
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / values.size();
  if (values.size() >= 2) {
    double sq = 0;
    for (double v : values) sq += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(sq / (values.size() - 1));
  }
  return s;
}

nlohmann::json stat_json(const Stat& s) {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"mean", number(s.mean)}, {"std", number(s.std)}, {"n", s.n}};
}

std::string variant_kind(const std::string& norm, double dropout, bool dropout_known) {
  std::string base;
  if (norm == "none")
    base = "none";
  else if (norm == "batch")
    base = "bn";
  else if (norm == "layer")
    base = "ln";
  else if (norm == "group")
    base = "gn";
  else
    return "unknown";
  if (!dropout_known) return "unknown";
  if (dropout <= 0) return base;
  return base == "none" ? "dropout" : base + "+dropout";
}

Report build_report(const RunRecords& run, const ReportOptions& options) {
  Report rep;
  rep.run_dir = run.dir;
  rep.run_name = run.name;
  rep.dataset = run.dataset;
  rep.swept_keys = run.swept_keys;
  rep.notes = run.notes;

  std::set<double> config_targets;
  for (const TrialRecord& t : run.trials)
    if (t.target_accuracy) config_targets.insert(*t.target_accuracy);
  if (options.target_accuracy) {
    rep.target_accuracy = options.target_accuracy;
    rep.target_source = "--target-acc";
  } else if (!config_targets.empty()) {
    rep.target_accuracy = *config_targets.begin();
    rep.target_source = config_targets.size() == 1 ? "config" : "config (differs by trial)";
  } else {
    rep.target_source = "none";
    rep.notes.push_back(
        "no target accuracy (metrics.target_accuracy is null and no --target-acc): epochs to "
        "target are not reported and convergence is judged by test accuracy after epoch 1");
  }

  // Groups: one per (variant, setting), in variant order and then ascending swept values.
  std::vector<const TrialRecord*> sorted;
  for (const TrialRecord& t : run.trials) sorted.push_back(&t);
  auto variant_rank = [&](const std::string& v) {
    auto it = std::find(run.variant_order.begin(), run.variant_order.end(), v);
    return static_cast<std::size_t>(it - run.variant_order.begin());
  };
  std::stable_sort(sorted.begin(), sorted.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    if (variant_rank(a->variant) != variant_rank(b->variant))
      return variant_rank(a->variant) < variant_rank(b->variant);
    for (std::size_t k = 0; k < std::min(a->swept.size(), b->swept.size()); ++k) {
      if (value_less(a->swept[k].second, b->swept[k].second)) return true;
      if (value_less(b->swept[k].second, a->swept[k].second)) return false;
    }
    return a->seed < b->seed;
  });

  std::map<std::pair<std::string, Setting>, std::size_t> group_of;
  std::vector<std::vector<std::pair<const TrialRecord*, const TrialOutcome*>>> members;
  rep.trials.reserve(sorted.size());
  for (const TrialRecord* t : sorted) {
    std::optional<double> target = options.target_accuracy ? options.target_accuracy : t->target_accuracy;
    rep.trials.push_back(outcome_of(*t, target));
    auto [it, inserted] = group_of.try_emplace({t->variant, t->swept}, rep.groups.size());
    if (inserted) {
      GroupSummary g;
      g.variant = t->variant;
      g.setting = t->swept;
      rep.groups.push_back(g);
      members.emplace_back();
    }
    GroupSummary& g = rep.groups[it->second];
    // A missing trial knows its variant's norm only from the config; a found one says it itself.
    if (g.norm.empty() || (g.kind == "unknown" && !t->norm.empty())) {
      g.norm = t->norm;
      g.dropout = t->dropout;
      g.kind = variant_kind(t->norm, t->dropout, t->dropout_known);
    }
    if (!g.lr) g.lr = t->lr;
    if (!g.batch_size) g.batch_size = t->batch_size;
    members[it->second].emplace_back(t, &rep.trials.back());
  }

  for (std::size_t gi = 0; gi < rep.groups.size(); ++gi) {
    GroupSummary& g = rep.groups[gi];
    std::vector<double> best, final, epoch1, ett, stt, censored, acc_gap, loss_gap, eval_gap, spe, sps;
    for (const auto& [t, o] : members[gi]) {
      ++g.trials;
      const std::string& s = t->status;
      if (s == "done")
        ++g.done;
      else if (s == "diverged")
        ++g.diverged;
      else if (s == "failed")
        ++g.failed;
      else if (s == "missing")
        ++g.missing;
      else
        ++g.unfinished;
      if (s != "done") continue;
      if (t->best_test_acc) best.push_back(*t->best_test_acc);
      if (t->final_test_acc) final.push_back(*t->final_test_acc);
      for (const EpochRow& row : t->epochs)
        if (row.split == "test" && row.epoch == 1 && row.acc) epoch1.push_back(*row.acc);
      if (o->epochs_to_target) {
        ++g.reached_target;
        ett.push_back(static_cast<double>(*o->epochs_to_target));
        censored.push_back(static_cast<double>(*o->epochs_to_target));
        if (o->steps_to_target) stt.push_back(static_cast<double>(*o->steps_to_target));
      } else if (o->target && t->epochs_run) {
        censored.push_back(static_cast<double>(*t->epochs_run + 1));
      }
      if (t->final_train_acc && t->final_test_acc)
        acc_gap.push_back(*t->final_train_acc - *t->final_test_acc);
      if (t->final_train_loss && t->final_test_loss)
        loss_gap.push_back(*t->final_test_loss - *t->final_train_loss);
      if (t->probe_train_mode_acc && t->probe_eval_mode_acc)
        eval_gap.push_back(*t->probe_train_mode_acc - *t->probe_eval_mode_acc);
      if (t->seconds_per_epoch) spe.push_back(*t->seconds_per_epoch);
      if (t->samples_per_s) sps.push_back(*t->samples_per_s);
    }
    g.best_test_acc = summarize(best);
    g.final_test_acc = summarize(final);
    g.test_acc_epoch1 = summarize(epoch1);
    g.epochs_to_target = summarize(ett);
    g.steps_to_target = summarize(stt);
    g.censored_epochs_to_target = summarize(censored);
    g.acc_gap = summarize(acc_gap);
    g.loss_gap = summarize(loss_gap);
    g.bn_eval_gap = summarize(eval_gap);
    g.seconds_per_epoch = summarize(spe);
    g.samples_per_s = summarize(sps);
    rep.planned += g.trials;
    rep.done += g.done;
    rep.diverged += g.diverged;
    rep.failed += g.failed;
    rep.unfinished += g.unfinished;
    rep.missing += g.missing;
  }

  for (const std::string& name : run.variant_order) {
    VariantSummary v;
    v.name = name;
    std::vector<std::size_t> own;
    for (std::size_t gi = 0; gi < rep.groups.size(); ++gi)
      if (rep.groups[gi].variant == name) own.push_back(gi);
    if (own.empty()) continue;
    v.kind = rep.groups[own.front()].kind;
    v.norm = rep.groups[own.front()].norm;
    v.dropout = rep.groups[own.front()].dropout;
    // Best setting: highest mean final test accuracy among settings where no seed diverged (an unstable
    // setting is no recommendation), falling back to any setting with a finished trial.
    for (bool require_stable : {true, false}) {
      for (std::size_t gi : own) {
        const GroupSummary& g = rep.groups[gi];
        if (g.final_test_acc.n == 0 || (require_stable && g.diverged > 0)) continue;
        if (!v.best_group || g.final_test_acc.mean > rep.groups[*v.best_group].final_test_acc.mean)
          v.best_group = gi;
      }
      if (v.best_group) break;
    }
    if (v.best_group) v.best_lr = rep.groups[*v.best_group].lr;

    std::map<double, std::pair<std::size_t, std::size_t>> by_lr;  // lr → (done, diverged)
    for (const TrialRecord& t : run.trials) {
      if (t.variant != name || !t.lr) continue;
      if (t.status == "done") ++by_lr[*t.lr].first;
      if (t.status == "diverged") ++by_lr[*t.lr].second;
    }
    for (const auto& [lr, counts] : by_lr) {
      if (counts.first + counts.second == 0) continue;
      ++v.lr_values_tried;
      v.largest_lr_tried = lr;
      if (counts.second == 0)
        v.largest_stable_lr = lr;
      else if (!v.smallest_diverged_lr)
        v.smallest_diverged_lr = lr;
    }
    rep.variants.push_back(v);
  }

  std::size_t unknown = 0;
  for (const VariantSummary& v : rep.variants) unknown += v.kind == "unknown";
  if (unknown)
    rep.notes.push_back(std::to_string(unknown) +
                        " variant(s) without a norm/dropout in their trial object: left out of the claims");

  rep.claims = assess_claims(rep);
  return rep;
}

}  // namespace bnlab::experiment
