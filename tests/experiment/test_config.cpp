// Config parsing: defaults, every error class with its key path, variants, sweep, --set, trial ids, shards,
// and every shipped config.
#include "experiment/config.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "experiment/config_reader.hpp"

using namespace bnlab;
using namespace bnlab::experiment;
using Catch::Contains;
using Catch::StartsWith;
using nlohmann::json;

namespace {

// A small MLP on generated 1×4×4 images with both placeholders.
json mlp_config() {
  return R"({
    "name": "t",
    "data": {"dataset": "synthetic",
             "synthetic": {"train": 64, "test": 32, "classes": 4, "height": 4, "width": 4}},
    "model": {"layers": [{"type": "flatten"},
                         {"type": "dense", "units": 8}, {"type": "norm"}, {"type": "relu"}, {"type": "dropout"},
                         {"type": "dense", "units": 4}]},
    "train": {"epochs": 2, "batch_size": 16}
  })"_json;
}

std::string error_of(const json& config, const std::vector<std::string>& sets = {}) {
  try {
    parse_experiment(config, sets, "x.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string error_with(const std::string& set) {
  return error_of(mlp_config(), {set});
}

std::vector<std::string> ids_of(const std::vector<TrialSpec>& trials) {
  std::vector<std::string> ids;
  for (const auto& t : trials) ids.push_back(t.id);
  return ids;
}

std::vector<std::string> ids_of(const Experiment& e) {
  return ids_of(e.trials);
}

}  // namespace

TEST_CASE("config/defaults fill every section", "[config]") {
  const Experiment e = parse_experiment(mlp_config(), {}, "configs/t.json");
  REQUIRE(e.trials.size() == 1);
  const TrialSpec& t = e.trials[0];
  CHECK(e.name == "t");
  CHECK(t.id == "default__seed=1");
  CHECK(t.variant == "default");
  CHECK(t.input == Shape{1, 4, 4});
  CHECK(t.train.optimizer.type == "sgd");
  CHECK(t.train.optimizer.lr == Approx(0.01));
  CHECK(t.train.schedule.type == "constant");
  CHECK_FALSE(t.train.drop_last);  // no batch norm in the default variant
  CHECK(t.metrics.log_every_steps == 50);
  CHECK(t.metrics.divergence_factor == 1000.0);
  CHECK_FALSE(t.metrics.target_accuracy);
  CHECK(t.data.synthetic.train == 64);
  CHECK(t.data.load.seed == 1);
  // The resolved config is complete: defaults written out, placeholders gone.
  CHECK(t.resolved["train"]["optimizer"]["momentum"] == 0.0);
  CHECK(t.resolved["metrics"]["layer_stats"] == true);
  CHECK(t.resolved["model"]["input"] == json({1, 4, 4}));
  CHECK(t.resolved["model"]["layers"].size() == 4);  // norm "none" and dropout 0 removed
  CHECK(t.resolved["model"]["layers"][1]["init"]["type"] == "pytorch");
  CHECK(t.resolved["trial"] == json({{"id", "default__seed=1"},
                                     {"variant", "default"},
                                     {"seed", 1},
                                     {"swept", json::object()},
                                     {"norm", "none"},
                                     {"dropout", 0.0}}));
}

TEST_CASE("config/name defaults to the file name and must be filesystem-safe", "[config]") {
  json c = mlp_config();
  c.erase("name");
  CHECK(parse_experiment(c, {}, "configs/my_run.json").name == "my_run");
  c["name"] = "a/b";
  CHECK_THAT(error_of(c), StartsWith("x.json: name: names the run folder"));
}

TEST_CASE("config/unknown keys suggest the closest valid key", "[config]") {
  json c = mlp_config();
  c["train"]["optimizer"] = {{"lrr", 0.1}};
  CHECK(error_of(c) == "x.json: train.optimizer.lrr: unknown key; did you mean \"lr\"?");

  c = mlp_config();
  c["train"]["epoch"] = 3;
  CHECK(error_of(c) == "x.json: train.epoch: unknown key; did you mean \"epochs\"?");

  c = mlp_config();
  c["sweeps"] = json::object();
  CHECK(error_of(c) == "x.json: sweeps: unknown key; did you mean \"sweep\"?");

  // Nothing close: the valid keys are listed instead.
  c = mlp_config();
  c["metrics"] = {{"zzzzzz", 1}};
  CHECK_THAT(error_of(c),
             StartsWith("x.json: metrics.zzzzzz: unknown key (valid keys here: divergence_factor,"));

  c = mlp_config();
  c["model"]["layers"][1]["unit"] = 8;
  CHECK(error_of(c) == "x.json: model.layers[1] (dense): unit: unknown key; did you mean \"units\"?");
}

TEST_CASE("config/wrong types name the key and what was found", "[config]") {
  json c = mlp_config();
  c["train"]["optimizer"] = {{"lr", "0.1"}};
  CHECK(error_of(c) == "x.json: train.optimizer.lr: expected a number, got a string (\"0.1\")");
  c = mlp_config();
  c["train"]["epochs"] = 2.5;
  CHECK(error_of(c) == "x.json: train.epochs: expected an integer, got a number (2.5)");
  c = mlp_config();
  c["train"]["drop_last"] = "yes";
  CHECK_THAT(error_of(c), StartsWith("x.json: train.drop_last: expected true or false"));
  c = mlp_config();
  c["data"] = 3;
  CHECK_THAT(error_of(c), StartsWith("x.json: data: expected an object, got an integer (3)"));
  c = mlp_config();
  c["train"]["optimizer"] = {{"type", "sdg"}};
  CHECK_THAT(error_of(c), Contains("train.optimizer.type: must be one of sgd, adam, adamw; got \"sdg\" "
                                   "(did you mean \"sgd\"?)"));
}

TEST_CASE("config/out-of-range values name the key path", "[config]") {
  using Case = std::pair<std::string, std::string>;
  const auto [set, message] = GENERATE(
      Case{"train.optimizer.lr=-1", "x.json: train.optimizer.lr: must be > 0, got -1"},
      Case{"train.optimizer.lr=0", "x.json: train.optimizer.lr: must be > 0, got 0"},
      Case{"train.batch_size=0", "x.json: train.batch_size: must be >= 1, got 0"},
      Case{"train.epochs=0", "x.json: train.epochs: must be >= 1, got 0"},
      Case{"train.optimizer.momentum=1.0", "x.json: train.optimizer.momentum: must be in [0, 1), got 1.0"},
      Case{"train.optimizer.weight_decay=-0.1",
           "x.json: train.optimizer.weight_decay: must be >= 0, got -0.1"},
      Case{"data.validation_fraction=1", "x.json: data.validation_fraction: must be in [0, 1), got 1"},
      Case{"data.train_limit=0", "x.json: data.train_limit: must be >= 1, got 0"},
      Case{"metrics.target_accuracy=1.5", "x.json: metrics.target_accuracy: must be in (0, 1], got 1.5"},
      Case{"metrics.log_every_steps=0", "x.json: metrics.log_every_steps: must be >= 1, got 0"},
      Case{"model.layers.4.rate=1.0", "x.json: model.layers[4] (dropout): rate: must be in [0, 1), got 1.0"},
      Case{"model.layers.1.units=0", "x.json: model.layers[1] (dense): units: must be >= 1, got 0"},
      Case{"seeds=[]", "x.json: seeds: the list is empty; give at least one seed"},
      Case{"seeds=[1,1]", "x.json: seeds: 1 is listed twice"},
      Case{"seeds=[-1]", "x.json: seeds: expected a list of non-negative integers"},
      Case{"train.schedule.type=cosine", ""},
      Case{"train.schedule={\"type\":\"cosine\",\"min_lr\":1}",
           "x.json: train.schedule.min_lr: must not exceed train.optimizer.lr (0.01), got 1"},
      Case{"train.schedule={\"type\":\"step\"}", "x.json: train.schedule.step_epochs: required but missing"},
      Case{"train.schedule={\"type\":\"multistep\",\"milestones\":[2,1]}",
           "x.json: train.schedule.milestones: must be strictly increasing, got [2,1]"},
      Case{"train.schedule={\"type\":\"constant\",\"gamma\":0.5}",
           "x.json: train.schedule.gamma: only used by the step and multistep schedules"},
      Case{"train.schedule.warmup_epochs=3",
           "x.json: train.schedule.warmup_epochs: must be in [0, 2], got 3"},
      Case{"train.optimizer={\"type\":\"adam\",\"momentum\":0.9}",
           "x.json: train.optimizer.momentum: only used by sgd, not adam"},
      Case{"train.optimizer={\"nesterov\":true}",
           "x.json: train.optimizer.nesterov: needs momentum > 0 and dampening 0 (as in PyTorch)"},
      Case{"train.optimizer={\"type\":\"adam\",\"betas\":[0.9,1.0]}",
           "x.json: train.optimizer.betas: expected [beta1, beta2], each in [0, 1)"});
  CAPTURE(set);
  if (message.empty())
    CHECK(error_with(set) == "(no error)");
  else
    CHECK_THAT(error_with(set), StartsWith(message));
}

TEST_CASE("config/JSON syntax errors give file, line and column", "[config]") {
  const std::string text = "{\n  \"name\": \"t\",\n  \"seeds\": [1,]\n}\n";
  try {
    parse_experiment_text(text, {}, "configs/broken.json");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), StartsWith("configs/broken.json: line 3, column 15: invalid JSON: "));
  }
  CHECK_THROWS_WITH(load_experiment("/nonexistent/x.json"), Contains("/nonexistent/x.json: cannot open"));
  // Duplicate keys would silently keep the last value.
  json c = mlp_config();
  std::string dup = c.dump();
  const std::string batch = "\"batch_size\":16";
  REQUIRE(dup.find(batch) != std::string::npos);
  dup.replace(dup.find(batch), batch.size(), batch + ",\"batch_size\":32");
  CHECK_THROWS_WITH(parse_experiment_text(dup, {}, "d.json"),
                    "d.json: train.batch_size: the key appears twice in the same object");
  c["model"]["layers"][1]["units"] = 8;
  dup = c.dump();
  const std::string units = "\"units\":8";
  dup.replace(dup.find(units), units.size(), units + ",\"units\":9");
  CHECK_THROWS_WITH(parse_experiment_text(dup, {}, "d.json"),
                    "d.json: model.layers[1].units: the key appears twice in the same object");
}

TEST_CASE("config/model checks: shapes, classes and dataset shape", "[config]") {
  json c = mlp_config();
  c["model"]["layers"].erase(0);  // no flatten before the first dense layer
  CHECK_THAT(error_of(c),
             StartsWith("x.json: model.layers[0] (dense) on per-sample input [1, 4, 4]: dense needs a "
                        "per-sample input of shape [features] (add a flatten layer before it)"));
  c = mlp_config();
  c["model"]["layers"][5]["units"] = 5;
  CHECK(error_of(c) ==
        "x.json: model.layers: the model outputs [5] per sample, but synthetic has 4 classes (end "
        "with a dense layer of 4 units)");
  c = mlp_config();
  c["model"]["input"] = {3, 4, 4};
  CHECK(error_of(c) ==
        "x.json: model.input: [3, 4, 4] does not match the synthetic images [1, 4, 4] (omit it to "
        "use the dataset's shape)");
  c = mlp_config();
  c["model"]["layers"][1]["type"] = "dens";
  CHECK_THAT(error_of(c), Contains("model.layers[1].type: must be one of flatten, dense,"));
  CHECK_THAT(error_of(c), Contains("(did you mean \"dense\"?)"));
}

TEST_CASE("config/placeholders take each variant's norm and dropout", "[config]") {
  json c = mlp_config();
  c["variants"] = R"({"plain": {}, "bn": {"norm": "batch"}, "ln": {"norm": "layer"},
                      "gn": {"norm": "group", "groups": 2}, "drop": {"dropout": 0.25}})"_json;
  const Experiment e = parse_experiment(c);
  std::map<std::string, json> layers;
  for (const auto& t : e.trials) layers[t.variant] = t.layers;
  CHECK(layers["plain"].size() == 4);
  REQUIRE(layers["bn"].size() == 5);
  CHECK(layers["bn"][2]["type"] == "batchnorm");
  CHECK(layers["bn"][2]["momentum"] == 0.1);
  CHECK(layers["ln"][2]["type"] == "layernorm");
  CHECK(layers["gn"][2] == json({{"type", "groupnorm"}, {"groups", 2}, {"eps", 1e-5}, {"affine", true}}));
  REQUIRE(layers["drop"].size() == 5);
  CHECK(layers["drop"][3] == json({{"type", "dropout"}, {"rate", 0.25}}));
  for (const auto& t : e.trials) {
    CHECK(t.resolved["model"]["layers"] == t.layers);
    CHECK(t.train.drop_last == (t.variant == "bn"));  // drop_last defaults to true with batch norm
  }
  const TrialSpec& gn =
      *std::find_if(e.trials.begin(), e.trials.end(), [](auto& t) { return t.variant == "gn"; });
  CHECK(gn.resolved["trial"]["norm"] == "group");
  CHECK(gn.resolved["trial"]["groups"] == 2);
}

TEST_CASE("config/a layer naming its own settings keeps them in every variant", "[config]") {
  json c = mlp_config();
  c["model"]["layers"][2] = {{"type", "norm"}, {"momentum", nullptr}, {"groups", 4}};
  c["model"]["layers"][4] = {{"type", "dropout"}, {"rate", 0.1}};
  c["variants"] = R"({"plain": {}, "bn": {"norm": "batch"}, "gn": {"norm": "group", "groups": 2}})"_json;
  const Experiment e = parse_experiment(c);
  std::map<std::string, json> layers;
  for (const auto& t : e.trials) {
    CAPTURE(t.variant);
    CHECK(std::count(t.layers.begin(), t.layers.end(), json({{"type", "dropout"}, {"rate", 0.1}})) == 1);
    layers[t.variant] = t.layers;
  }
  CHECK(layers["bn"][2]["momentum"].is_null());  // cumulative average, as written on the layer
  CHECK(layers["gn"][2]["groups"] == 4);         // the layer's groups win over the variant's
}

TEST_CASE("config/variant errors", "[config]") {
  json c = mlp_config();
  c["variants"] = {{"gn", {{"norm", "group"}, {"groups", 3}}}};
  CHECK(error_of(c) ==
        "x.json: model.layers[2] (groupnorm from the norm placeholder) on per-sample input [8]: "
        "groups 3 do not divide the 8 input channels (filled by variants.gn)");
  c["variants"] = {{"gn", {{"norm", "group"}}}};
  CHECK(error_of(c) == "x.json: variants.gn.groups: required but missing");
  c["variants"] = {{"bn", {{"norm", "batch"}, {"groups", 2}}}};
  CHECK(error_of(c) == "x.json: variants.bn.groups: only used with norm \"group\"");
  c["variants"] = {{"d", {{"dropout", 1.0}}}};
  CHECK(error_of(c) == "x.json: variants.d.dropout: must be in [0, 1), got 1.0");
  c["variants"] = {{"bn", {{"nrom", "batch"}}}};
  CHECK(error_of(c) == "x.json: variants.bn.nrom: unknown key; did you mean \"norm\"?");
  c["variants"] = {{"bn", {{"seeds", 1}}}};
  CHECK(error_of(c) == "x.json: variants.bn.seeds: \"seeds\" cannot be set per variant");
  c["variants"] = json::object();
  CHECK_THAT(error_of(c), StartsWith("x.json: variants: no variant defined"));
  c["variants"] = {{"fast", {{"train.optimizer.lr", -2}}}};
  CHECK(error_of(c) == "x.json: train.optimizer.lr: must be > 0, got -2 (set by variants.fast)");
  c["variants"] = {{"fast", {{"train.optimiser.lr", 0.1}}}};
  CHECK(error_of(c) ==
        "x.json: train.optimiser: unknown key; did you mean \"optimizer\"? (set by variants.fast)");
  // A norm or dropout setting that nothing in the model takes is a mistake, not a silent duplicate.
  c = mlp_config();
  c["model"]["layers"].erase(4);
  c["variants"] = {{"d", {{"dropout", 0.5}}}};
  CHECK_THAT(error_of(c), StartsWith("x.json: variants.d.dropout: has no effect"));
  c["variants"] = {{"a b", {{"norm", "none"}}}, {"a-b", {{"norm", "none"}}}};
  CHECK(error_of(c) ==
        "x.json: variants.a-b: gives the same trial id as variants.a b (\"a-b\"); rename one of them");
}

TEST_CASE("config/variants override any key by its dotted path", "[config]") {
  json c = mlp_config();
  c["variants"] = R"({"slow": {}, "fast": {"train.optimizer.lr": 0.1, "model.layers.1.units": 16,
                      "data.augment": ["flip"]}})"_json;
  const Experiment e = parse_experiment(c);  // a json object keeps its keys sorted: fast, slow
  REQUIRE(e.trials.size() == 2);
  const TrialSpec &fast = e.trials[0], &slow = e.trials[1];
  REQUIRE(slow.variant == "slow");
  CHECK(slow.train.optimizer.lr == Approx(0.01));
  CHECK(fast.train.optimizer.lr == Approx(0.1));
  CHECK(fast.layers[1]["units"] == 16);
  CHECK(fast.data.augment.horizontal_flip);
  CHECK_FALSE(slow.data.augment.horizontal_flip);
  CHECK(fast.resolved["data"]["augment"] == json::parse(R"([{"type": "flip"}])"));
  CHECK(fast.parameters > slow.parameters);
}

TEST_CASE("config/trials: variants x sweep x seeds in order, stable readable ids", "[config]") {
  json c = mlp_config();
  c.erase("name");
  std::string text = c.dump();
  text.pop_back();  // append keys in a non-alphabetical order, which the plan must keep
  text += R"(, "variants": {"plain": {}, "bn+dropout": {"norm": "batch", "dropout": 0.2}},
              "sweep": {"train.optimizer.lr": [0.1, 0.03], "train.batch_size": [32, 16]},
              "seeds": [2, 1]})";
  const Experiment e = parse_experiment_text(text, {}, "configs/order.json");
  REQUIRE(e.trials.size() == 16);
  CHECK(e.name == "order");
  CHECK(e.variants == std::vector<std::string>{"plain", "bn+dropout"});
  CHECK(e.swept_keys == std::vector<std::string>{"train.optimizer.lr", "train.batch_size"});
  CHECK(e.sweep_points == 4);
  const auto ids = ids_of(e);
  CHECK(ids[0] == "plain__lr=0.1__batch_size=32__seed=2");
  CHECK(ids[1] == "plain__lr=0.1__batch_size=32__seed=1");
  CHECK(ids[2] == "plain__lr=0.1__batch_size=16__seed=2");
  CHECK(ids[4] == "plain__lr=0.03__batch_size=32__seed=2");
  CHECK(ids[8] == "bn+dropout__lr=0.1__batch_size=32__seed=2");
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
  const TrialSpec& t = e.trials[10];  // bn+dropout, lr 0.1, batch 16, seed 2
  CHECK(t.train.batch_size == 16);
  CHECK(t.train.optimizer.lr == Approx(0.1));
  CHECK(t.seed == 2);
  REQUIRE(t.swept.size() == 2);
  CHECK(t.swept[0] == std::make_pair(std::string("train.optimizer.lr"), json(0.1)));
  CHECK(t.resolved["trial"]["swept"] == json({{"train.optimizer.lr", 0.1}, {"train.batch_size", 16}}));
  CHECK(t.resolved["trial"]["dropout"] == 0.2);
  CHECK(t.resolved["seeds"] == json({2}));
  // The same text plans the same trials.
  CHECK(ids_of(parse_experiment_text(text, {}, "configs/order.json")) == ids);
  // Ids contain only filesystem-safe characters.
  for (const auto& id : ids)
    CHECK(std::all_of(id.begin(), id.end(), [](char ch) {
      return std::isalnum(ch) || std::string("._+=,-").find(ch) != std::string::npos;
    }));
}

TEST_CASE("config/sweep: short key names, variant-level keys and errors", "[config]") {
  json c = mlp_config();
  c["model"]["layers"].push_back({{"type", "relu"}});
  c["model"]["layers"].insert(c["model"]["layers"].begin() + 5, json{{"type", "dense"}, {"units", 8}});
  c["sweep"] = {{"model.layers.1.units", {8, 16}}, {"model.layers.5.units", {8}}, {"dropout", {0.0, 0.5}}};
  const Experiment e = parse_experiment(c);
  REQUIRE(e.trials.size() == 4);
  CHECK(e.trials[0].id == "default__dropout=0.0__1.units=8__5.units=8__seed=1");
  CHECK(e.trials[1].id == "default__dropout=0.0__1.units=16__5.units=8__seed=1");
  CHECK(e.trials[2].resolved["trial"]["dropout"] == 0.5);
  CHECK(e.trials[2].layers.size() == e.trials[0].layers.size() + 1);

  c = mlp_config();
  c["sweep"] = {{"train.optimizer.lr", json::array()}};
  CHECK_THAT(error_of(c),
             StartsWith("x.json: sweep.train.optimizer.lr: expected a non-empty list of values"));
  c["sweep"] = {{"train.optimizer.lrr", {0.1}}};
  CHECK(error_of(c) ==
        "x.json: train.optimizer.lrr: unknown key; did you mean \"lr\"? (swept by "
        "sweep.train.optimizer.lrr = 0.1)");
  c["sweep"] = {{"trian.epochs", {1}}};
  CHECK(error_of(c) == "x.json: sweep.trian.epochs: unknown key; did you mean \"train\"?");
  c["sweep"] = {{"seeds", {{1}, {2}}}};
  CHECK_THAT(error_of(c), StartsWith("x.json: sweep.seeds: seeds cannot be swept"));
  c["sweep"] = {{"train.optimizer.lr", {0.1, 0.1}}};
  CHECK(error_of(c) == "x.json: sweep.train.optimizer.lr[1]: duplicate value 0.1");
  c["sweep"] = {{"dropout", {0.1, 1.5}}};
  CHECK(error_of(c) == "x.json: sweep.dropout[1]: must be in [0, 1), got 1.5");
  c["sweep"] = {{"train.optimizer", {json::object()}}, {"train.optimizer.lr", {0.1}}};
  CHECK_THAT(error_of(c), Contains("overlaps sweep."));
  c["sweep"] = {{"train.optimizer.lr", {0.1, -1}}};
  CHECK(error_of(c) ==
        "x.json: train.optimizer.lr: must be > 0, got -1 (swept by sweep.train.optimizer.lr = -1)");
}

TEST_CASE("config/--set overrides any key and is validated the same way", "[config]") {
  json c = mlp_config();
  c["variants"] = {{"a", {{"train.epochs", 5}}}, {"b", json::object()}};
  c["sweep"] = {{"train.optimizer.lr", {0.1, 0.2}}};
  const Experiment e = parse_experiment(
      c, {"train.epochs=3", "metrics.target_accuracy=0.9", "seeds=[4]", "description=quick check"});
  REQUIRE(e.trials.size() == 4);
  for (const auto& t : e.trials) {
    CHECK(t.train.epochs == 3);  // --set wins over the variant
    CHECK(t.metrics.target_accuracy == Approx(0.9));
    CHECK(t.seed == 4);
  }
  CHECK(e.description == "quick check");  // not JSON, so taken as a string
  CHECK(e.given["train"]["epochs"] == 3);
  // A swept key that --set fixes leaves the sweep.
  const Experiment fixed = parse_experiment(c, {"train.optimizer.lr=0.05"});
  CHECK(fixed.trials.size() == 2);
  CHECK(fixed.swept_keys.empty());
  CHECK(fixed.trials[0].id == "a__seed=1");
  CHECK(fixed.trials[0].train.optimizer.lr == Approx(0.05));
  // Paths into lists, and errors.
  CHECK(parse_experiment(mlp_config(), {"model.layers[1].units=16"}).trials[0].layers[1]["units"] == 16);
  CHECK(error_with("train.optimizer.lr=-1") ==
        "x.json: train.optimizer.lr: must be > 0, got -1 (set by --set)");
  CHECK(error_with("train.epochs") ==
        "x.json: --set train.epochs: expected KEY=VALUE, e.g. --set train.epochs=3");
  CHECK(error_with("model.layers.9.units=3") ==
        "x.json: model.layers: index 9 is out of range (the list has 6 entries) (in --set "
        "model.layers.9.units)");
  CHECK(error_with("train.epochs.x=3") ==
        "x.json: train.epochs: is an integer (2), so train.epochs.x cannot be set inside it (in --set "
        "train.epochs.x)");
  CHECK(error_with("trian.epochs=3") == "x.json: trian: unknown key; did you mean \"train\"?");
}

TEST_CASE("config/data section: augment, limits, synthetic", "[config]") {
  json c = mlp_config();
  c["data"]["augment"] = json::parse(R"(["flip", {"type": "crop", "padding": 2}])");
  c["data"]["train_limit"] = 48;
  const TrialSpec t = parse_experiment(c).trials[0];
  CHECK(t.data.augment.horizontal_flip);
  CHECK(t.data.augment.crop_padding == 2);
  CHECK(t.data.load.train_limit == std::size_t{48});
  CHECK_FALSE(t.data.load.test_limit);
  CHECK(t.resolved["data"]["augment"][1] == json({{"type", "crop"}, {"padding", 2}}));
  c["data"]["augment"] = json::parse(R"(["flip", "flip"])");
  CHECK(error_of(c) == "x.json: data.augment[1]: \"flip\" is listed twice");
  c["data"]["augment"] = json::parse(R"(["flop"])");
  CHECK_THAT(error_of(c), StartsWith("x.json: data.augment[0].type: must be one of flip, crop"));
  c = mlp_config();
  c["data"] = {{"dataset", "mnist"}, {"synthetic", {{"train", 5}}}};
  CHECK(error_of(c) == "x.json: data.synthetic: only used when data.dataset is \"synthetic\"");
  c = mlp_config();
  c["data"]["dataset"] = "cifar";
  CHECK_THAT(error_of(c), Contains("(did you mean \"cifar10\"?)"));
  c = mlp_config();
  c["data"] = {{"dataset", "fashion-mnist"}};
  const TrialSpec f = parse_experiment(c, {"model.layers.5.units=10"}).trials[0];
  CHECK(f.data.load.dir == "data/fashion-mnist");
  CHECK(f.input == Shape{1, 28, 28});
}

TEST_CASE("config/batch norm and batch sizes", "[config]") {
  json c = mlp_config();
  c["variants"] = {{"bn", {{"norm", "batch"}}}};
  CHECK(error_of(c, {"train.batch_size=1"}) ==
        "x.json: train.batch_size: 1 gives model.layers[2] (batchnorm) one value per channel to normalize; "
        "use a "
        "batch size of at least 2 (set by --set)");
  // 64 training samples, batch 21: a last batch of one sample that batch norm cannot take.
  CHECK_THAT(error_of(c, {"train.batch_size=21", "train.drop_last=false"}),
             StartsWith("x.json: train.drop_last: false leaves a last batch of 1 sample"));
  CHECK(error_of(c, {"train.batch_size=21"}) == "(no error)");  // drop_last defaults to true
  CHECK_THAT(error_of(c, {"train.batch_size=100"}),
             StartsWith("x.json: train.batch_size: 100 is larger than the 64 training samples"));
}

TEST_CASE("config/init settings", "[config]") {
  json c = mlp_config();
  c["model"]["init"] = {{"type", "normal"}, {"std", 0.01}};
  c["model"]["layers"][5]["init"] = "xavier_uniform";
  const TrialSpec t = parse_experiment(c).trials[0];
  CHECK(t.layers[1]["init"] == json({{"type", "normal"}, {"std", 0.01}}));
  CHECK(t.layers[3]["init"] == json({{"type", "xavier_uniform"}, {"nonlinearity", "linear"}}));
  c["model"]["init"] = "kaiming_nromal";
  CHECK_THAT(error_of(c), Contains("model.init.type: must be one of"));
  CHECK_THAT(error_of(c), Contains("did you mean \"kaiming_normal\"?"));
  c["model"]["init"] = {{"type", "normal"}, {"mode", "fan_out"}};
  CHECK(error_of(c) == "x.json: model.init.mode: only used by the kaiming_* inits");
}

TEST_CASE("config/expected cost is epochs x samples x forward cost", "[config]") {
  json c = mlp_config();
  c["sweep"] = {{"train.epochs", {1, 3}}};
  const Experiment e = parse_experiment(c);
  REQUIRE(e.trials.size() == 2);
  const double flops = 16 * 8 + 8 + 8 * 4;  // dense, relu, dense
  CHECK(e.trials[0].flops_per_sample == Approx(flops));
  CHECK(e.trials[0].parameters == 16 * 8 + 8 + 8 * 4 + 4);
  CHECK(e.trials[0].expected_cost == Approx(1 * 64 * flops));
  CHECK(e.trials[1].expected_cost == Approx(3 * 64 * flops));
}

TEST_CASE("config/shards: union is every trial once, balanced by cost", "[config]") {
  json c = mlp_config();
  c["variants"] = R"({"a": {}, "b": {"norm": "batch"}, "c": {"norm": "layer"}})"_json;
  c["sweep"] = {{"train.epochs", {1, 2, 5}}, {"model.layers.1.units", {8, 32}}};
  c["seeds"] = {1, 2};
  const Experiment e = parse_experiment(c);
  REQUIRE(e.trials.size() == 36);
  double total = 0, largest = 0;
  for (const auto& t : e.trials) {
    total += t.expected_cost;
    largest = std::max(largest, t.expected_cost);
  }
  for (std::size_t count : {1, 2, 3, 5}) {
    CAPTURE(count);
    std::multiset<std::string> seen;
    std::vector<double> loads;
    for (std::size_t i = 0; i < count; ++i) {
      const auto shard = select_shard(e.trials, i, count);
      double load = 0;
      for (const auto& t : shard) {
        seen.insert(t.id);
        load += t.expected_cost;
      }
      loads.push_back(load);
      // Same answer every time, in plan order.
      CHECK(ids_of(select_shard(e.trials, i, count)) == ids_of(shard));
    }
    const auto ids = ids_of(e);
    CHECK(seen == std::multiset<std::string>(ids.begin(), ids.end()));
    // Greedy longest-first: no shard exceeds the mean by more than the largest trial.
    CHECK(*std::max_element(loads.begin(), loads.end()) <= total / count + largest + 1e-9);
  }
  CHECK_THROWS_AS(select_shard(e.trials, 2, 2), ConfigError);
  CHECK_THROWS_AS(select_shard(e.trials, 0, 0), ConfigError);
}

TEST_CASE("config/a trial's resolved config plans that trial again", "[config]") {
  json c = mlp_config();
  c["variants"] = R"({"bn": {"norm": "batch", "dropout": 0.3}})"_json;
  c["sweep"] = {{"train.optimizer.lr", {0.2}}};
  c["seeds"] = {7};
  const TrialSpec t = parse_experiment(c).trials[0];
  const TrialSpec again = parse_experiment(t.resolved).trials[0];
  json a = t.resolved, b = again.resolved;
  a.erase("trial");
  b.erase("trial");
  CHECK(a == b);
  CHECK(again.seed == 7);
  CHECK(again.train.optimizer.lr == Approx(0.2));
}

TEST_CASE("config/edit distance and suggestions", "[config]") {
  CHECK(edit_distance("lr", "lr") == 0);
  CHECK(edit_distance("lrr", "lr") == 1);
  CHECK(edit_distance("momentun", "momentum") == 1);
  CHECK(edit_distance("epohcs", "epochs") == 1);  // a transposition is one edit
  CHECK(edit_distance("LR", "lr") == 0);
  CHECK(closest_match("batchsize", {"batch_size", "epochs"}) == "batch_size");
  CHECK(closest_match("xyz", {"batch_size", "epochs"}).empty());
}

TEST_CASE("config/every shipped config validates", "[config]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(BNLAB_SOURCE_DIR) / "configs";
  std::size_t checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    CAPTURE(entry.path().string());
    Experiment e;
    REQUIRE_NOTHROW(e = load_experiment(entry.path().string()));
    CHECK_FALSE(e.trials.empty());
    CHECK(e.description.size() > 40);  // states the claim and the expected result
    CHECK(e.name == entry.path().stem().string());
    ++checked;
  }
  CHECK(checked >= 8);
}

TEST_CASE("config/bnlab validate reports each file and fails on any error", "[config]") {
  namespace fs = std::filesystem;
  const fs::path bad = fs::temp_directory_path() / ("bnlab_validate_" + std::to_string(::getpid()) + ".json");
  std::ofstream(bad) << R"({"data": {"dataset": "mnist"}, "train": {"optimizer": {"lr": -1}},
                            "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}})";
  const std::string good = std::string(BNLAB_SOURCE_DIR) + "/configs/quickstart.json";
  auto run = [](const std::string& args, std::string& out) {
    FILE* pipe = popen((std::string(BNLAB_BINARY) + " validate " + args + " 2>&1").c_str(), "r");
    REQUIRE(pipe);
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
    return WEXITSTATUS(pclose(pipe));
  };
  std::string out;
  CHECK(run(good + " " + bad.string(), out) == 1);
  CHECK_THAT(out, Contains("ok: " + good + ": 4 trials (4 variants × 1 sweep point × 1 seed)"));
  CHECK_THAT(out, Contains("270,346 parameters"));  // the batchnorm variant's MLP
  CHECK_THAT(out, Contains("error: " + bad.string() + ": train.optimizer.lr: must be > 0, got -1"));
  out.clear();
  CHECK(run(good + " --set train.epochs=1 --trials", out) == 0);
  CHECK_THAT(out, Contains("1 epoch × batch 128"));
  CHECK_THAT(out, Contains("    bn+dropout__seed=1"));
  fs::remove(bad);
}
