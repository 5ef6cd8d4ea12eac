// Claim verdicts. Each compares two variant classes (by the trials' norm and dropout), at a setting chosen
// so the comparison is fair to the baseline, and states the numbers it used.
#include "experiment/report_claims.hpp"

#include <cmath>
#include <cstdio>
#include <functional>

namespace bnlab::experiment {

const char* const kVerdictRule =
    "Each side is the mean ± sample standard deviation over its seeds (finished trials only). A claim is "
    "supported when the two intervals mean ± std do not overlap and the difference points the claimed way, "
    "not supported when they do not overlap and it points the other way, and inconclusive when they overlap "
    "or a side has fewer than 2 seeds. Matched comparisons use the baseline's best setting (its highest mean "
    "final test accuracy without a diverged seed); best-vs-best comparisons use each variant's own best "
    "setting. Epochs to target count a seed that never reached the target as epochs run + 1. A difference of "
    "two means (dropout's gain) has spread sqrt(std1² + std2²). Learning-rate tolerance compares the largest "
    "learning rate at which no seed diverged: inconclusive when neither variant diverged anywhere in the "
    "sweep or when neither trained stably at any learning rate.";

namespace {

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string short_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "88.12 ± 0.31% (3 seeds)": scale 100 for accuracies.
std::string stat_text(const Stat& s, double scale, int decimals, const std::string& unit) {
  if (s.n == 0) return "no finished seed";
  std::string text = fixed(s.mean * scale, decimals);
  if (s.n >= 2) text += " ± " + fixed(s.std * scale, decimals);
  return text + unit + " (" + std::to_string(s.n) + (s.n == 1 ? " seed)" : " seeds)");
}
std::string acc_text(const Stat& s) {
  return stat_text(s, 100.0, 2, "%");
}

std::string setting_text(const Setting& setting) {
  if (setting.empty()) return "the run's only setting";
  std::string text;
  for (const auto& [key, value] : setting) {
    if (!text.empty()) text += ", ";
    text += key.substr(key.rfind('.') + 1) + "=" + value;
  }
  return text;
}

std::string lr_text(const std::optional<double>& lr) {
  return lr ? short_number(*lr) : "none";
}

nlohmann::json lr_json(const std::optional<double>& lr) {
  return lr ? nlohmann::json(*lr) : nlohmann::json(nullptr);
}

struct Context {
  const Report& rep;
  std::vector<const VariantSummary*> of_kind(const std::string& kind) const {
    std::vector<const VariantSummary*> list;
    for (const VariantSummary& v : rep.variants)
      if (v.kind == kind) list.push_back(&v);
    return list;
  }
  const GroupSummary* group(const std::string& variant, const Setting& setting) const {
    for (const GroupSummary& g : rep.groups)
      if (g.variant == variant && g.setting == setting) return &g;
    return nullptr;
  }
  const GroupSummary* best(const VariantSummary& v) const {
    return v.best_group ? &rep.groups[*v.best_group] : nullptr;
  }
};

Claim make(const std::string& key, const std::string& statement, const std::string& comparison) {
  Claim c;
  c.key = key;
  c.statement = statement;
  c.comparison = comparison;
  c.numbers = nlohmann::json::object();
  return c;
}

Claim not_assessed(Claim c, const std::string& why) {
  c.verdict = "not assessed";
  c.evidence = why;
  return c;
}

std::string kind_name(const std::string& kind) {
  if (kind == "none") return "no normalization and no dropout";
  if (kind == "bn") return "batch norm and no dropout";
  if (kind == "dropout") return "dropout and no normalization";
  return "batch norm and dropout";
}

// Calls `judge` for each pair (a of kind_a, b of kind_b), or returns one "not assessed" claim.
void for_pairs(const Context& ctx, std::vector<Claim>& out, const std::string& key,
               const std::string& statement, const std::string& kind_a, const std::string& kind_b,
               const std::function<Claim(Claim, const VariantSummary&, const VariantSummary&)>& judge) {
  auto as = ctx.of_kind(kind_a), bs = ctx.of_kind(kind_b);
  if (as.empty() || bs.empty()) {
    const std::string& absent = as.empty() ? kind_a : kind_b;
    out.push_back(not_assessed(make(key, statement, kind_a + " vs " + kind_b),
                               "the run has no variant with " + kind_name(absent)));
    return;
  }
  for (const VariantSummary* a : as)
    for (const VariantSummary* b : bs)
      out.push_back(judge(make(key, statement, a->name + " vs " + b->name), *a, *b));
}

Claim convergence(const Context& ctx, Claim c, const VariantSummary& bn, const VariantSummary& plain) {
  const GroupSummary* gp = ctx.best(plain);
  if (!gp) return not_assessed(c, plain.name + " has no finished trial");
  const GroupSummary* gb = ctx.group(bn.name, gp->setting);
  if (!gb || gb->done == 0)
    return not_assessed(c, bn.name + " has no finished trial at " + plain.name + "'s best setting (" +
                               setting_text(gp->setting) + ")");
  c.numbers["setting"] = setting_text(gp->setting);
  c.numbers["test_acc_epoch1"] = {{bn.name, stat_json(gb->test_acc_epoch1)},
                                  {plain.name, stat_json(gp->test_acc_epoch1)}};
  std::string early = "test accuracy after epoch 1: " + bn.name + " " + acc_text(gb->test_acc_epoch1) + ", " +
                      plain.name + " " + acc_text(gp->test_acc_epoch1);
  if (ctx.rep.target_accuracy) {
    c.verdict = compare_verdict(gb->censored_epochs_to_target, gp->censored_epochs_to_target, false);
    c.numbers["target_accuracy"] = *ctx.rep.target_accuracy;
    c.numbers["epochs_to_target"] = {{bn.name, stat_json(gb->censored_epochs_to_target)},
                                     {plain.name, stat_json(gp->censored_epochs_to_target)}};
    auto side = [&](const VariantSummary& v, const GroupSummary& g) {
      return v.name + " " + stat_text(g.censored_epochs_to_target, 1.0, 2, " epochs") + ", " +
             std::to_string(g.reached_target) + "/" + std::to_string(g.done) + " reached it";
    };
    c.evidence = "at " + setting_text(gp->setting) + " (" + plain.name + "'s best setting), epochs to " +
                 fixed(*ctx.rep.target_accuracy * 100, 2) + "% test accuracy: " + side(bn, *gb) + "; " +
                 side(plain, *gp) + ". Also " + early + ".";
  } else {
    c.verdict = compare_verdict(gb->test_acc_epoch1, gp->test_acc_epoch1, true);
    c.evidence = "no target accuracy, so judged by " + early + " at " + setting_text(gp->setting) + " (" +
                 plain.name + "'s best setting).";
  }
  return c;
}

Claim learning_rates(const Context&, Claim c, const VariantSummary& bn, const VariantSummary& plain) {
  for (const VariantSummary* v : {&bn, &plain})
    if (v->lr_values_tried < 2)
      return not_assessed(c, v->name + " finished at " + std::to_string(v->lr_values_tried) +
                                 " learning rate(s); sweep train.optimizer.lr over at least 2 values");
  for (const VariantSummary* v : {&bn, &plain})
    c.numbers[v->name] = {{"largest_stable_lr", lr_json(v->largest_stable_lr)},
                          {"smallest_diverged_lr", lr_json(v->smallest_diverged_lr)},
                          {"largest_lr_tried", lr_json(v->largest_lr_tried)},
                          {"best_lr", lr_json(v->best_lr)}};
  auto side = [](const VariantSummary& v) {
    std::string text = v.name + ": largest stable lr " + lr_text(v.largest_stable_lr);
    text += v.smallest_diverged_lr ? ", diverged from lr " + lr_text(v.smallest_diverged_lr)
                                   : ", never diverged up to lr " + lr_text(v.largest_lr_tried);
    return text + ", best lr " + lr_text(v.best_lr);
  };
  c.evidence = side(bn) + "; " + side(plain) + ".";
  const auto &a = bn.largest_stable_lr, &b = plain.largest_stable_lr;
  if (!a && !b)
    c.verdict = "inconclusive";
  else if (!b)
    c.verdict = "supported";
  else if (!a)
    c.verdict = "not supported";
  else if (*a > *b)
    c.verdict = "supported";
  else if (*a < *b)
    c.verdict = "not supported";
  // Equal: the baseline's limit is only known when it diverged somewhere above it.
  else
    c.verdict = plain.smallest_diverged_lr || bn.smallest_diverged_lr ? "not supported" : "inconclusive";
  return c;
}

Claim accuracy(const Context& ctx, Claim c, const VariantSummary& bn, const VariantSummary& plain) {
  const GroupSummary *gb = ctx.best(bn), *gp = ctx.best(plain);
  if (!gb || !gp) return not_assessed(c, (gb ? plain.name : bn.name) + " has no finished trial");
  c.verdict = compare_verdict(gb->final_test_acc, gp->final_test_acc, true);
  c.numbers["final_test_acc"] = {{bn.name, stat_json(gb->final_test_acc)},
                                 {plain.name, stat_json(gp->final_test_acc)}};
  c.numbers["settings"] = {{bn.name, setting_text(gb->setting)}, {plain.name, setting_text(gp->setting)}};
  c.evidence = "final test accuracy, each at its best setting: " + bn.name + " " +
               acc_text(gb->final_test_acc) + " at " + setting_text(gb->setting) + "; " + plain.name + " " +
               acc_text(gp->final_test_acc) + " at " + setting_text(gp->setting) + ".";
  if (const GroupSummary* matched = ctx.group(bn.name, gp->setting); matched && matched != gb)
    c.evidence += " At " + plain.name + "'s best setting " + bn.name + " reaches " +
                  acc_text(matched->final_test_acc) + ".";
  return c;
}

Claim regularization(const Context& ctx, Claim c, const VariantSummary& bn, const VariantSummary& plain) {
  const GroupSummary* gp = ctx.best(plain);
  if (!gp) return not_assessed(c, plain.name + " has no finished trial");
  const GroupSummary* gb = ctx.group(bn.name, gp->setting);
  if (!gb || gb->done == 0)
    return not_assessed(c, bn.name + " has no finished trial at " + setting_text(gp->setting));
  c.verdict = compare_verdict(gb->acc_gap, gp->acc_gap, false);
  c.numbers["setting"] = setting_text(gp->setting);
  c.numbers["acc_gap"] = {{bn.name, stat_json(gb->acc_gap)}, {plain.name, stat_json(gp->acc_gap)}};
  c.numbers["loss_gap"] = {{bn.name, stat_json(gb->loss_gap)}, {plain.name, stat_json(gp->loss_gap)}};
  c.evidence = "at " + setting_text(gp->setting) + " (" + plain.name +
               "'s best setting), final train − test accuracy: " + bn.name + " " +
               stat_text(gb->acc_gap, 100, 2, " pp") + ", " + plain.name + " " +
               stat_text(gp->acc_gap, 100, 2, " pp") + "; test − train loss: " + bn.name + " " +
               stat_text(gb->loss_gap, 1, 4, "") + ", " + plain.name + " " +
               stat_text(gp->loss_gap, 1, 4, "") + ".";
  return c;
}

// Dropout's gain = (variant with dropout) − (same norm without), best setting against best setting.
Stat gain(const GroupSummary& with, const GroupSummary& without) {
  Stat s;
  s.n = std::min(with.final_test_acc.n, without.final_test_acc.n);
  s.mean = with.final_test_acc.mean - without.final_test_acc.mean;
  s.std = std::sqrt(with.final_test_acc.std * with.final_test_acc.std +
                    without.final_test_acc.std * without.final_test_acc.std);
  return s;
}

Claim combined(const Context& ctx, Claim c, const VariantSummary& bn_drop, const VariantSummary& bn) {
  const GroupSummary *gd = ctx.best(bn_drop), *gb = ctx.best(bn);
  if (!gd || !gb) return not_assessed(c, (gd ? bn.name : bn_drop.name) + " has no finished trial");
  c.verdict = compare_verdict(gd->final_test_acc, gb->final_test_acc, true);
  c.numbers["final_test_acc"] = {{bn_drop.name, stat_json(gd->final_test_acc)},
                                 {bn.name, stat_json(gb->final_test_acc)}};
  c.numbers["bn_eval_gap"] = {{bn_drop.name, stat_json(gd->bn_eval_gap)},
                              {bn.name, stat_json(gb->bn_eval_gap)}};
  c.evidence =
      "final test accuracy, each at its best setting: " + bn_drop.name + " (dropout " +
      short_number(bn_drop.dropout) + ") " + acc_text(gd->final_test_acc) + " at " +
      setting_text(gd->setting) + "; " + bn.name + " " + acc_text(gb->final_test_acc) + " at " +
      setting_text(gb->setting) +
      ". Probe accuracy in train mode − eval mode (the BN eval gap; train mode also applies dropout, which "
      "pulls it down): " +
      bn_drop.name + " " + stat_text(gd->bn_eval_gap, 100, 2, " pp") + ", " + bn.name + " " +
      stat_text(gb->bn_eval_gap, 100, 2, " pp") + ".";
  return c;
}

}  // namespace

std::string compare_verdict(const Stat& a, const Stat& b, bool higher_is_better) {
  if (a.n < 2 || b.n < 2 || !std::isfinite(a.std) || !std::isfinite(b.std)) return "inconclusive";
  double a_lo = a.mean - a.std, a_hi = a.mean + a.std, b_lo = b.mean - b.std, b_hi = b.mean + b.std;
  bool a_above = a_lo > b_hi, a_below = a_hi < b_lo;
  if (!a_above && !a_below) return "inconclusive";
  return a_above == higher_is_better ? "supported" : "not supported";
}

std::vector<Claim> assess_claims(const Report& rep) {
  Context ctx{rep};
  std::vector<Claim> claims;
  auto bind = [&](auto fn) {
    return [&ctx, fn](Claim c, const VariantSummary& a, const VariantSummary& b) {
      return fn(ctx, std::move(c), a, b);
    };
  };
  for_pairs(
      ctx, claims, "faster_convergence",
      "BN converges faster: fewer epochs to the target accuracy than without normalization, at the same "
      "learning rate",
      "bn", "none", bind(convergence));
  for_pairs(ctx, claims, "larger_learning_rates",
            "BN tolerates larger learning rates: it trains without diverging at a larger learning rate than "
            "without normalization",
            "bn", "none", bind(learning_rates));
  for_pairs(ctx, claims, "accuracy",
            "BN reaches higher final test accuracy than without normalization, each at its best setting",
            "bn", "none", bind(accuracy));
  for_pairs(
      ctx, claims, "regularization",
      "BN regularizes: a smaller train − test accuracy gap than without normalization, at the same setting",
      "bn", "none", bind(regularization));

  // Less need for dropout needs all four classes: the gain from dropout with and without BN.
  const std::string statement =
      "BN reduces the need for dropout: adding dropout gains less final test accuracy on top of BN than on "
      "the "
      "unnormalized net (each variant at its best setting)";
  auto plains = ctx.of_kind("none"), bns = ctx.of_kind("bn"), drops = ctx.of_kind("dropout"),
       bn_drops = ctx.of_kind("bn+dropout");
  if (plains.empty() || bns.empty() || drops.empty() || bn_drops.empty()) {
    std::string absent;
    for (auto [list, kind] :
         {std::pair{&plains, "none"}, {&bns, "bn"}, {&drops, "dropout"}, {&bn_drops, "bn+dropout"}})
      if (list->empty()) absent += std::string(absent.empty() ? "" : ", ") + kind_name(kind);
    claims.push_back(
        not_assessed(make("less_need_for_dropout", statement, "bn+dropout − bn vs dropout − none"),
                     "needs variants of all four kinds; the run has none with " + absent));
  } else {
    for (auto* p : plains)
      for (auto* b : bns)
        for (auto* d : drops)
          for (auto* bd : bn_drops) {
            Claim c = make("less_need_for_dropout", statement,
                           "(" + bd->name + " − " + b->name + ") vs (" + d->name + " − " + p->name + ")");
            const GroupSummary *gp = ctx.best(*p), *gb = ctx.best(*b), *gd = ctx.best(*d),
                               *gbd = ctx.best(*bd);
            if (!gp || !gb || !gd || !gbd) {
              claims.push_back(not_assessed(c, "a variant of the comparison has no finished trial"));
              continue;
            }
            Stat with_bn = gain(*gbd, *gb), without_bn = gain(*gd, *gp);
            c.verdict = compare_verdict(with_bn, without_bn, false);
            c.numbers["gain_with_bn"] = stat_json(with_bn);
            c.numbers["gain_without_bn"] = stat_json(without_bn);
            c.evidence = "dropout's gain in final test accuracy: on top of BN (" + bd->name + " − " +
                         b->name + ") " + stat_text(with_bn, 100, 2, " pp") + "; without normalization (" +
                         d->name + " − " + p->name + ") " + stat_text(without_bn, 100, 2, " pp") + ".";
            claims.push_back(c);
          }
  }

  for_pairs(
      ctx, claims, "bn_dropout_combined",
      "BN and dropout combine well: BN + dropout reaches higher final test accuracy than BN alone (each at "
      "its best setting)",
      "bn+dropout", "bn", bind(combined));
  return claims;
}

}  // namespace bnlab::experiment
