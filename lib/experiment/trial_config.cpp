// Reads the data, model, train and metrics sections of one trial, with defaults and cross-checks.
#include "experiment/trial_config.hpp"

#include <algorithm>
#include <cmath>

#include "experiment/config_reader.hpp"
#include "experiment/layer_factory.hpp"

namespace bnlab::experiment {

using nlohmann::json;

namespace {

// What the planner knows about a dataset before loading it: sample shape, classes, training-set size.
struct DatasetFacts {
  Shape shape;
  std::size_t classes = 0;
  double train = 0.0;
  bool exact = false;  // train is the exact size (synthetic), not the usual one
};

DatasetFacts facts_of(const std::string& dataset, const data::SyntheticOptions& synthetic) {
  if (dataset == "cifar10") return {{3, 32, 32}, 10, 50000, false};
  if (dataset == "synthetic")
    return {{synthetic.channels, synthetic.height, synthetic.width},
            synthetic.classes,
            static_cast<double>(synthetic.train),
            true};
  return {{1, 28, 28}, 10, 60000, false};  // mnist and fashion-mnist
}

std::string str(const Shape& s) {
  return to_string(s);
}

DataSpec read_data(KeyReader& top, DatasetFacts& facts) {
  KeyReader d = top.sub("data");
  DataSpec spec;
  auto& load = spec.load;
  load.dataset = d.choice("dataset", kRequired, {"fashion-mnist", "mnist", "cifar10", "synthetic"});
  load.dir = d.string("dir", load.dataset == "synthetic" ? "" : "data/" + load.dataset);
  if (auto v = d.nullable_integer("train_limit", Range::at_least(1)))
    load.train_limit = static_cast<std::size_t>(*v);
  if (auto v = d.nullable_integer("test_limit", Range::at_least(1)))
    load.test_limit = static_cast<std::size_t>(*v);
  load.validation_fraction = d.number("validation_fraction", 0.0, Range::half_open(0, 1));

  json augment = json::array();
  if (const json* a = d.raw("augment")) {
    if (!a->is_array())
      d.fail("augment", "expected a list such as [\"flip\", {\"type\": \"crop\", \"padding\": 4}], got " +
                            describe_json(*a));
    for (std::size_t i = 0; i < a->size(); ++i) {
      const json item = (*a)[i].is_string() ? json{{"type", (*a)[i]}} : (*a)[i];
      KeyReader r(item, d.key_path("augment") + "[" + std::to_string(i) + "]");
      const std::string type = r.choice("type", kRequired, {"flip", "crop"});
      for (const auto& earlier : augment)
        if (earlier["type"] == type) r.fail_here("\"" + type + "\" is listed twice");
      if (type == "crop")
        spec.augment.crop_padding = static_cast<std::size_t>(r.integer("padding", 4, Range::at_least(1)));
      else
        spec.augment.horizontal_flip = true;
      r.finish();
      augment.push_back(r.normalized());
    }
  }
  d.store("augment", augment);

  if (load.dataset == "synthetic") {
    KeyReader s = d.sub("synthetic");
    auto& o = spec.synthetic;
    o.train = static_cast<std::size_t>(s.integer("train", static_cast<long>(o.train), Range::at_least(1)));
    o.test = static_cast<std::size_t>(s.integer("test", static_cast<long>(o.test), Range::at_least(1)));
    o.classes =
        static_cast<std::size_t>(s.integer("classes", static_cast<long>(o.classes), Range::at_least(2)));
    o.channels =
        static_cast<std::size_t>(s.integer("channels", static_cast<long>(o.channels), Range::at_least(1)));
    o.height = static_cast<std::size_t>(s.integer("height", static_cast<long>(o.height), Range::at_least(1)));
    o.width = static_cast<std::size_t>(s.integer("width", static_cast<long>(o.width), Range::at_least(1)));
    o.noise = s.number("noise", o.noise, Range::at_least(0));
    s.finish();
    d.store("synthetic", s.normalized());
  } else {
    d.reject("synthetic", "only used when data.dataset is \"synthetic\"");
  }
  d.finish();
  top.store("data", d.normalized());

  facts = facts_of(load.dataset, spec.synthetic);
  double train = facts.train;
  if (load.train_limit) {
    // Without the official files, mnist comes as an 8,000-image training set (DESIGN §7).
    const double surely_available = load.dataset == "mnist" ? 8000.0 : train;
    facts.exact = facts.exact || static_cast<double>(*load.train_limit) <= surely_available;
    train = std::min(train, static_cast<double>(*load.train_limit));
  }
  if (load.validation_fraction > 0) facts.exact = false;
  facts.train = train * (1.0 - load.validation_fraction);
  return spec;
}

Shape read_input(KeyReader& m, const std::string& dataset, const DatasetFacts& facts) {
  const json* v = m.raw("input");
  if (!v) {
    m.store("input", facts.shape);
    return facts.shape;
  }
  const bool valid = v->is_array() && !v->empty() && v->size() <= 3 &&
                     std::all_of(v->begin(), v->end(),
                                 [](const json& x) { return x.is_number_integer() && x.get<long>() >= 1; });
  if (!valid) m.fail("input", "expected a per-sample shape such as [1, 28, 28], got " + describe_json(*v));
  const Shape input = v->get<Shape>();
  if (input != facts.shape)
    m.fail("input", str(input) + " does not match the " + dataset + " images " + str(facts.shape) +
                        " (omit it to use the dataset's shape)");
  m.store("input", input);
  return input;
}

void read_model(KeyReader& top, const PlaceholderFill& fill, const std::string& dataset,
                const DatasetFacts& facts, TrialConfig& out) {
  KeyReader m = top.sub("model");
  out.input = read_input(m, dataset, facts);
  const json* init = m.raw("init");
  const json normalized_init = normalize_init(init ? *init : json("pytorch"), m.key_path("init"));
  m.store("init", normalized_init);
  const json* layers = m.raw("layers");
  if (!layers) m.fail("layers", "required but missing");
  out.layers = resolve_layers(*layers, fill, normalized_init);
  m.store("layers", out.layers.layers);
  m.finish();
  top.store("model", m.normalized());

  out.model = check_model(out.layers, out.input);
  if (out.model.output != Shape{facts.classes})
    throw KeyError("model.layers",
                   "model.layers: the model outputs " + str(out.model.output) + " per sample, but " +
                       dataset + " has " + std::to_string(facts.classes) +
                       " classes (end with a dense layer of " + std::to_string(facts.classes) + " units)");
}

// Batch norm needs more than one value per channel in a training batch: the positions after the channel
// times the batch size.
void check_batch_norm_batches(const TrialConfig& c, const DatasetFacts& facts) {
  for (std::size_t i = 0; i < c.layers.layers.size(); ++i) {
    if (c.layers.layers[i]["type"] != "batchnorm") continue;
    const Shape out = c.model.layers[i]["output"].get<Shape>();
    const std::size_t positions = element_count(out) / out[0];
    const std::string name = "model.layers[" + std::to_string(c.layers.origins[i].index) + "] (batchnorm)";
    if (c.train.batch_size * positions < 2)
      throw KeyError("train.batch_size",
                     "train.batch_size: " + std::to_string(c.train.batch_size) + " gives " + name +
                         " one value per channel to normalize; use a batch size of at least 2");
    const auto samples = static_cast<std::size_t>(std::llround(facts.train));
    if (facts.exact && !c.train.drop_last && positions == 1 && samples % c.train.batch_size == 1)
      throw KeyError("train.drop_last", "train.drop_last: false leaves a last batch of 1 sample (" +
                                            std::to_string(samples) + " samples, batch size " +
                                            std::to_string(c.train.batch_size) + "), which " + name +
                                            " cannot normalize; set it to true");
  }
}

OptimizerSpec read_optimizer(KeyReader& t) {
  KeyReader o = t.sub("optimizer");
  OptimizerSpec spec;
  spec.type = o.choice("type", "sgd", {"sgd", "adam", "adamw"});
  const bool sgd = spec.type == "sgd";
  spec.lr = o.number("lr", sgd ? 0.01 : 0.001, Range::above(0));
  spec.weight_decay = o.number("weight_decay", spec.type == "adamw" ? 0.01 : 0.0, Range::at_least(0));
  spec.exclude_norm_and_bias = o.boolean("exclude_norm_and_bias", false);
  if (sgd) {
    spec.momentum = o.number("momentum", 0.0, Range::half_open(0, 1));
    spec.dampening = o.number("dampening", 0.0, Range::closed(0, 1));
    spec.nesterov = o.boolean("nesterov", false);
    if (spec.nesterov && (spec.momentum == 0.0 || spec.dampening != 0.0))
      o.fail("nesterov", "needs momentum > 0 and dampening 0 (as in PyTorch)");
    for (const char* key : {"betas", "eps"})
      o.reject(key, std::string("only used by adam and adamw, not sgd"));
  } else {
    const json* betas = o.raw("betas");
    if (betas) {
      const bool valid = betas->is_array() && betas->size() == 2 &&
                         std::all_of(betas->begin(), betas->end(), [](const json& b) {
                           return b.is_number() && b.get<double>() >= 0.0 && b.get<double>() < 1.0;
                         });
      if (!valid) o.fail("betas", "expected [beta1, beta2], each in [0, 1), got " + describe_json(*betas));
      spec.beta1 = (*betas)[0].get<double>();
      spec.beta2 = (*betas)[1].get<double>();
    }
    o.store("betas", {spec.beta1, spec.beta2});
    spec.eps = o.number("eps", 1e-8, Range::above(0));
    for (const char* key : {"momentum", "dampening", "nesterov"})
      o.reject(key, "only used by sgd, not " + spec.type);
  }
  o.finish();
  t.store("optimizer", o.normalized());
  return spec;
}

ScheduleConfig read_schedule(KeyReader& t, const TrainSpec& train) {
  KeyReader s = t.sub("schedule");
  ScheduleConfig spec;
  spec.type = s.choice("type", "constant", {"constant", "step", "multistep", "cosine"});
  spec.warmup_epochs = s.number("warmup_epochs", 0.0, Range::closed(0, train.epochs));
  const std::string only = "only used by the ";
  if (spec.type == "step") {
    spec.step_epochs = s.number("step_epochs", kRequired, Range::above(0));
  } else {
    s.reject("step_epochs", only + "step schedule");
  }
  if (spec.type == "multistep") {
    const json* m = s.raw("milestones");
    if (!m) s.fail("milestones", "required by the multistep schedule");
    const bool valid = m->is_array() && !m->empty() && std::all_of(m->begin(), m->end(), [](const json& x) {
                         return x.is_number() && x.get<double>() > 0;
                       });
    if (!valid) s.fail("milestones", "expected a non-empty list of epochs > 0, got " + describe_json(*m));
    spec.milestones = m->get<std::vector<double>>();
    if (!std::is_sorted(spec.milestones.begin(), spec.milestones.end(), std::less_equal<double>()))
      s.fail("milestones", "must be strictly increasing, got " + m->dump());
    s.store("milestones", *m);
  } else {
    s.reject("milestones", only + "multistep schedule");
  }
  if (spec.type == "step" || spec.type == "multistep")
    spec.gamma = s.number("gamma", 0.1, Range::above(0));
  else
    s.reject("gamma", only + "step and multistep schedules");
  if (spec.type == "cosine") {
    spec.min_lr = s.number("min_lr", 0.0, Range::at_least(0));
    if (spec.min_lr > train.optimizer.lr)
      s.fail("min_lr", "must not exceed train.optimizer.lr (" + json(train.optimizer.lr).dump() + "), got " +
                           json(spec.min_lr).dump());
  } else {
    s.reject("min_lr", only + "cosine schedule");
  }
  s.finish();
  t.store("schedule", s.normalized());
  return spec;
}

TrainSpec read_train(KeyReader& top, bool has_batch_norm, const DatasetFacts& facts) {
  KeyReader t = top.sub("train");
  TrainSpec spec;
  spec.epochs = static_cast<int>(t.integer("epochs", 10, Range::at_least(1)));
  spec.batch_size = static_cast<std::size_t>(t.integer("batch_size", 128, Range::at_least(1)));
  // Batch norm cannot normalize a last batch of one sample; other models keep every sample.
  spec.drop_last = t.boolean("drop_last", has_batch_norm);
  if (spec.drop_last && static_cast<double>(spec.batch_size) > facts.train && facts.exact)
    t.fail("batch_size", std::to_string(spec.batch_size) + " is larger than the " +
                             std::to_string(std::llround(facts.train)) +
                             " training samples, so drop_last would leave no batch");
  spec.optimizer = read_optimizer(t);
  spec.schedule = read_schedule(t, spec);
  t.finish();
  top.store("train", t.normalized());
  return spec;
}

MetricsSpec read_metrics(KeyReader& top) {
  KeyReader m = top.sub("metrics");
  MetricsSpec spec;
  spec.target_accuracy = m.nullable_number("target_accuracy", Range::left_open(0, 1));
  spec.layer_stats = m.boolean("layer_stats", true);
  spec.log_every_steps = m.integer("log_every_steps", 50, Range::at_least(1));
  spec.probe_samples = static_cast<std::size_t>(m.integer("probe_samples", 256, Range::at_least(1)));
  spec.divergence_factor = m.number("divergence_factor", 1000.0, Range::above(1));
  m.finish();
  top.store("metrics", m.normalized());
  return spec;
}

}  // namespace

TrialConfig read_trial_config(const json& config, const PlaceholderFill& fill) {
  TrialConfig out;
  KeyReader top(config, "");
  top.string("name", kRequired);
  top.string("description", "");
  DatasetFacts facts;
  out.data = read_data(top, facts);
  out.train_samples = facts.train;
  read_model(top, fill, out.data.load.dataset, facts, out);
  const bool has_batch_norm = std::any_of(out.layers.layers.begin(), out.layers.layers.end(),
                                          [](const json& l) { return l["type"] == "batchnorm"; });
  out.train = read_train(top, has_batch_norm, facts);
  check_batch_norm_batches(out, facts);
  out.metrics = read_metrics(top);
  top.finish();
  out.normalized = top.normalized();
  return out;
}

}  // namespace bnlab::experiment
