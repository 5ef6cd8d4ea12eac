// bnlab report on generated run directories: rows and numbers match the CSVs, verdicts follow the rule,
// partial sweeps say what is missing, and the CLI writes report.md.
#include "experiment/report.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "experiment/csv_reader.hpp"
#include "experiment/report_claims.hpp"
#include "experiment/report_format.hpp"
#include "experiment/run_fixture.hpp"

using namespace bnlab::experiment;
namespace fs = std::filesystem;

namespace {

const GroupSummary& group(const Report& rep, const std::string& variant, const std::string& lr) {
  for (const GroupSummary& g : rep.groups)
    if (g.variant == variant && !g.setting.empty() && g.setting[0].second == lr) return g;
  FAIL("no group " << variant << " lr=" << lr);
  throw;
}

const VariantSummary& variant(const Report& rep, const std::string& name) {
  for (const VariantSummary& v : rep.variants)
    if (v.name == name) return v;
  FAIL("no variant " << name);
  throw;
}

std::string verdict(const Report& rep, const std::string& key) {
  for (const Claim& c : rep.claims)
    if (c.key == key) return c.verdict;
  return "absent";
}

void check_stat(const Stat& s, std::size_t n, double mean, double std) {
  CHECK(s.n == n);
  CHECK(s.mean == Approx(mean).margin(1e-9));
  CHECK(s.std == Approx(std).margin(1e-9));
}

Report fixture_report(const std::string& stem, ReportOptions options = {}) {
  bnlab::test::TempDir dir(stem);
  auto run = bnlab::test::bn_vs_dropout_fixture(dir.path());
  run.write();
  return build_report(load_run(run.dir.string()), options);
}

int run_cli(const std::string& args, const fs::path& out) {
  std::string cmd = std::string(BNLAB_BINARY) + " " + args + " > " + (out / "stdout.txt").string() + " 2> " +
                    (out / "stderr.txt").string();
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("report/groups match the CSVs", "[report]") {
  Report rep = fixture_report("groups");
  REQUIRE(rep.groups.size() == 12);
  CHECK(rep.planned == 36);
  CHECK(rep.done == 30);
  CHECK(rep.diverged == 6);
  CHECK_FALSE(rep.partial());
  CHECK(rep.target_accuracy == Approx(0.795));
  CHECK(rep.target_source == "config");
  // Order: config's variant order, then ascending learning rate.
  CHECK(rep.groups[0].variant == "plain");
  CHECK(rep.groups[0].setting[0].second == "0.01");
  CHECK(rep.groups[2].setting[0].second == "1");

  const GroupSummary& plain = group(rep, "plain", "0.1");
  CHECK(plain.kind == "none");
  CHECK(plain.lr == Approx(0.1));
  check_stat(plain.final_test_acc, 3, 0.82, 0.02);
  check_stat(plain.best_test_acc, 3, 0.82, 0.02);
  check_stat(plain.epochs_to_target, 3, 3, 0);  // epoch 2 reaches 0.75–0.79, below 0.795
  check_stat(plain.steps_to_target, 3, 30, 0);
  check_stat(plain.acc_gap, 3, 0.12, 0.02);
  check_stat(plain.loss_gap, 3, 0.22, 0.02);  // (1.1 − test) − (1 − train) = 0.1 + gap
  check_stat(plain.seconds_per_epoch, 3, 2.7, 0);
  check_stat(plain.samples_per_s, 3, 1000, 0);

  const GroupSummary& bn = group(rep, "batchnorm", "0.1");
  CHECK(bn.kind == "bn");
  check_stat(bn.final_test_acc, 3, 0.87, 0.01);
  check_stat(bn.epochs_to_target, 3, 2, 0);
  check_stat(bn.steps_to_target, 3, 20, 0);
  check_stat(bn.test_acc_epoch1, 3, 0.67, 0.01);
  check_stat(bn.acc_gap, 3, 0.04, 0.01);
  check_stat(bn.bn_eval_gap, 3, 0.02, 0.01);
  CHECK(bn.reached_target == 3);

  const GroupSummary& unstable = group(rep, "plain", "1");
  CHECK(unstable.diverged == 3);
  CHECK(unstable.done == 0);
  CHECK(unstable.final_test_acc.n == 0);
  CHECK(group(rep, "bn+dropout", "1").kind == "bn+dropout");
  CHECK(group(rep, "dropout", "1").kind == "dropout");
}

TEST_CASE("report/best and largest stable learning rate per variant", "[report]") {
  Report rep = fixture_report("variants");
  REQUIRE(rep.variants.size() == 4);
  const VariantSummary& plain = variant(rep, "plain");
  CHECK(plain.best_lr == Approx(0.1));
  CHECK(plain.largest_stable_lr == Approx(0.1));
  CHECK(plain.smallest_diverged_lr == Approx(1.0));
  CHECK(plain.lr_values_tried == 3);
  const VariantSummary& bn = variant(rep, "batchnorm");
  CHECK(bn.best_lr == Approx(1.0));
  CHECK(bn.largest_stable_lr == Approx(1.0));
  CHECK_FALSE(bn.smallest_diverged_lr.has_value());
  CHECK(variant(rep, "dropout").best_lr == Approx(0.1));
  CHECK(variant(rep, "bn+dropout").best_lr == Approx(1.0));
}

TEST_CASE("report/claim verdicts", "[report]") {
  Report rep = fixture_report("claims");
  REQUIRE(rep.claims.size() == 6);
  CHECK(verdict(rep, "faster_convergence") == "supported");      // 2 ± 0 vs 3 ± 0 epochs at lr 0.1
  CHECK(verdict(rep, "larger_learning_rates") == "supported");   // stable up to 1 vs 0.1
  CHECK(verdict(rep, "accuracy") == "supported");                // 0.90 ± 0.01 vs 0.82 ± 0.02
  CHECK(verdict(rep, "regularization") == "supported");          // gap 0.04 ± 0.01 vs 0.12 ± 0.02
  CHECK(verdict(rep, "less_need_for_dropout") == "supported");   // gain −0.01 ± 0.014 vs 0.05 ± 0.022
  CHECK(verdict(rep, "bn_dropout_combined") == "inconclusive");  // 0.89 ± 0.01 vs 0.90 ± 0.01 overlap
  for (const Claim& c : rep.claims) {
    CAPTURE(c.key);
    CHECK_FALSE(c.evidence.empty());
  }
  const Claim& lr = rep.claims[1];
  CHECK(lr.numbers["plain"]["largest_stable_lr"] == Approx(0.1));
  CHECK(lr.numbers["batchnorm"]["largest_stable_lr"] == Approx(1.0));
  CHECK_THAT(rep.claims[0].evidence, Catch::Contains("lr=0.1"));
}

TEST_CASE("report/claims the run cannot speak to are not assessed", "[report]") {
  bnlab::test::TempDir dir("subset");
  auto run = bnlab::test::bn_vs_dropout_fixture(dir.path());
  std::vector<bnlab::test::FixtureTrial> kept;
  for (const auto& t : run.trials)  // plain and batchnorm at lr 0.1 only
    if ((t.variant == "plain" || t.variant == "batchnorm") && t.lr == 0.1) kept.push_back(t);
  run.trials = kept;
  run.write();
  Report rep = build_report(load_run(run.dir.string()));
  CHECK(verdict(rep, "faster_convergence") == "supported");
  CHECK(verdict(rep, "accuracy") == "supported");
  CHECK(verdict(rep, "larger_learning_rates") == "not assessed");  // one learning rate
  CHECK(verdict(rep, "less_need_for_dropout") == "not assessed");
  CHECK(verdict(rep, "bn_dropout_combined") == "not assessed");
}

TEST_CASE("report/verdict rule on the spread over seeds", "[report]") {
  auto stat = [](double mean, double std, std::size_t n = 3) { return Stat{n, mean, std}; };
  CHECK(compare_verdict(stat(0.9, 0.01), stat(0.8, 0.02), true) == "supported");
  CHECK(compare_verdict(stat(0.8, 0.01), stat(0.9, 0.02), true) == "not supported");
  CHECK(compare_verdict(stat(0.8, 0.01), stat(0.9, 0.02), false) == "supported");
  CHECK(compare_verdict(stat(0.85, 0.03), stat(0.8, 0.03), true) == "inconclusive");  // 0.82 < 0.83
  CHECK(compare_verdict(stat(0.9, 0.0), stat(0.9, 0.0), true) == "inconclusive");
  CHECK(compare_verdict(stat(0.9, 0.0, 1), stat(0.5, 0.0), true) == "inconclusive");  // one seed
  CHECK(std::string(kVerdictRule).find("inconclusive") != std::string::npos);
}

TEST_CASE("report/--target-acc recomputes epochs and steps to target from epochs.csv", "[report]") {
  Report rep = fixture_report("target", ReportOptions{0.85});
  CHECK(rep.target_source == "--target-acc");
  const GroupSummary& bn = group(rep, "batchnorm", "0.1");
  check_stat(bn.epochs_to_target, 3, 3, 0);  // 0.81–0.83 at epoch 2, 0.86–0.88 at epoch 3
  check_stat(bn.steps_to_target, 3, 30, 0);
  const GroupSummary& plain = group(rep, "plain", "0.1");
  CHECK(plain.reached_target == 0);  // 0.80–0.84 never reach 0.85
  check_stat(plain.censored_epochs_to_target, 3, 4, 0);
  CHECK(verdict(rep, "faster_convergence") == "supported");
  CHECK_THAT(render_markdown(rep), Catch::Contains("not reached (0/3)"));
}

TEST_CASE("report/partial sweep says which trials are missing, failed, diverged or running", "[report]") {
  bnlab::test::TempDir dir("partial");
  auto run = bnlab::test::bn_vs_dropout_fixture(dir.path());
  for (auto& t : run.trials) {
    if (t.variant == "plain" && t.lr == 0.01 && t.seed == 3) {
      t.status = "failed";
      t.error = "std::bad_alloc, while building the model";
    }
    if (t.variant == "batchnorm" && t.lr == 1.0 && t.seed == 3) {
      t.status = "running";
      t.epochs_done = 1;
    }
    if (t.variant == "dropout" && t.lr == 0.1 && t.seed == 3) t.status = "pending";
    if (t.variant == "bn+dropout" && t.lr == 0.1 && t.seed == 3) t.status = "absent";
  }
  run.write();
  Report rep = build_report(load_run(run.dir.string()));
  CHECK(rep.partial());
  CHECK(rep.planned == 36);
  CHECK(rep.done == 26);
  CHECK(rep.diverged == 6);
  CHECK(rep.failed == 1);
  CHECK(rep.unfinished == 2);
  CHECK(rep.missing == 1);
  // The finished seeds still count.
  check_stat(group(rep, "batchnorm", "1").final_test_acc, 2, 0.895, 0.0070710678);
  CHECK(group(rep, "batchnorm", "1").unfinished == 1);

  std::string md = render_markdown(rep);
  CHECK_THAT(md, Catch::Contains("**Partial report:**"));
  CHECK_THAT(md,
             Catch::Contains("`plain__lr=0.01__seed=3`: failed: std::bad_alloc, while building the model"));
  CHECK_THAT(md, Catch::Contains("`plain__lr=1__seed=1`: diverged at step 5"));
  CHECK_THAT(md, Catch::Contains("`batchnorm__lr=1__seed=3`: running (not finished)"));
  CHECK_THAT(md, Catch::Contains("`dropout__lr=0.1__seed=3`: pending (not finished)"));
  CHECK_THAT(md, Catch::Contains("`bn+dropout__lr=0.1__seed=3`: missing"));
}

TEST_CASE("report/without trials.csv or a plan, the folders give the same numbers", "[report]") {
  bnlab::test::TempDir dir("folders");
  auto run = bnlab::test::bn_vs_dropout_fixture(dir.path());
  run.write_trials_csv = false;
  run.write_plan = false;
  run.trials.back().status = "absent";  // bn+dropout lr 1 seed 3: only the config's sweep says it exists
  run.write();
  RunRecords records = load_run(run.dir.string());
  Report rep = build_report(records);
  CHECK(rep.planned == 36);
  CHECK(rep.missing == 1);
  CHECK(rep.done == 29);
  const GroupSummary& bn = group(rep, "batchnorm", "0.1");
  check_stat(bn.final_test_acc, 3, 0.87, 0.01);
  check_stat(bn.best_test_acc, 3, 0.87, 0.01);
  check_stat(bn.epochs_to_target, 3, 2, 0);
  check_stat(bn.steps_to_target, 3, 20, 0);  // layers.csv: step at the end of each epoch
  check_stat(bn.acc_gap, 3, 0.04, 0.01);
  check_stat(bn.bn_eval_gap, 3, 0.02, 0.01);
  check_stat(bn.seconds_per_epoch, 3, 2.7, 0);  // all rows of an epoch
  CHECK(variant(rep, "plain").largest_stable_lr == Approx(0.1));
  CHECK(verdict(rep, "accuracy") == "supported");
  CHECK_THAT(render_markdown(rep), Catch::Contains("`bn+dropout__train.optimizer.lr=1__seed=3`: missing"));
}

TEST_CASE("report/csv and json renderings carry the same numbers", "[report]") {
  Report rep = fixture_report("formats");
  CsvTable csv = parse_csv(render_csv(rep), "report.csv");
  REQUIRE(csv.size() == 12);
  CHECK(csv.malformed_rows == 0);
  for (std::size_t r = 0; r < csv.size(); ++r) {
    if (csv.text(r, "variant") != "batchnorm") continue;
    bool best = csv.text(r, "train.optimizer.lr") == "1";
    CHECK(csv.text(r, "is_best_setting") == (best ? "1" : "0"));
    if (csv.text(r, "train.optimizer.lr") == "0.1") {
      CHECK(csv.number(r, "final_test_acc_mean") == Approx(0.87));
      CHECK(csv.number(r, "final_test_acc_std") == Approx(0.01));
      CHECK(csv.number(r, "epochs_to_target_mean") == Approx(2));
      CHECK(csv.number(r, "variant_largest_stable_lr") == Approx(1));
    }
  }
  nlohmann::json j = nlohmann::json::parse(render_report(rep, ReportFormat::Json));
  CHECK(j["run"]["trials"]["planned"] == 36);
  CHECK(j["groups"].size() == 12);
  CHECK(j["claims"].size() == 6);
  CHECK(j["claims"][2]["verdict"] == "supported");
  CHECK(j["variants"][1]["largest_stable_lr"] == Approx(1.0));
  CHECK(j["trials"].size() == 36);
  CHECK(j["verdict_rule"] == kVerdictRule);
  std::string md = render_markdown(rep);
  CHECK_THAT(md, Catch::Contains(
                     "| batchnorm | 0.1 | 3/3 | 87.00 ± 1.00 | 87.00 ± 1.00 | 2.0 ± 0.0 (3/3) | 20 ± 0 |"));
  CHECK_THAT(md, Catch::Contains("| plain | none | 0 | lr=0.1 | 82.00 ± 2.00 |"));
  CHECK_THAT(md, Catch::Contains("- **supported**: BN tolerates larger learning rates"));
  CHECK_THROWS_AS(parse_report_format("xml"), bnlab::ConfigError);
}

TEST_CASE("report/not a run directory is a clear error", "[report]") {
  CHECK_THROWS_WITH(load_run("/nonexistent/run"), Catch::Contains("/nonexistent/run: not a directory"));
  bnlab::test::TempDir empty("empty");
  CHECK_THROWS_WITH(load_run(empty.path().string()), Catch::Contains("not a run directory"));
  bnlab::test::TempDir dir("broken");
  const fs::path& broken = dir.path();
  bnlab::test::RunFixture run = bnlab::test::bn_vs_dropout_fixture(broken);
  run.write();
  {
    std::ofstream out(broken / "trials.csv");
    out << "trial,variant,seed,train.optimizer.lr,status,final_test_acc\nx,plain,1,0.1,done,high\n";
  }
  CHECK_THROWS_WITH(load_run(broken.string()),
                    Catch::Contains("trials.csv: line 2, column 'final_test_acc'"));
}

TEST_CASE("report/cli writes report.md and prints the chosen format", "[report][cli]") {
  bnlab::test::TempDir dir("cli");
  auto run = bnlab::test::bn_vs_dropout_fixture(dir.path());
  run.write();
  bnlab::test::TempDir out_dir("cli_out");
  const fs::path& out = out_dir.path();
  REQUIRE(run_cli("report " + run.dir.string(), out) == 0);
  std::string md = bnlab::test::read_text(run.dir / "report.md");
  CHECK_THAT(md, Catch::StartsWith("# bnlab report: fixture"));
  CHECK(bnlab::test::read_text(out / "stdout.txt") == md);

  REQUIRE(run_cli("report " + run.dir.string() + " --format json --target-acc 0.85 --out " +
                      (out / "r.json").string(),
                  out) == 0);
  auto j = nlohmann::json::parse(bnlab::test::read_text(out / "r.json"));
  CHECK(j["run"]["target_accuracy"] == Approx(0.85));

  REQUIRE(run_cli("report " + run.dir.string() + " --format csv", out) == 0);
  CHECK(parse_csv(bnlab::test::read_text(out / "stdout.txt"), "stdout").size() == 12);

  CHECK(run_cli("report /nonexistent/run", out) == 2);
  CHECK_THAT(bnlab::test::read_text(out / "stderr.txt"),
             Catch::Contains("/nonexistent/run: not a directory"));
  CHECK(run_cli("report " + run.dir.string() + " --format xml", out) != 0);
}
