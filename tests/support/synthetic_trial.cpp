// Synthetic trials and configs shared by the experiment tests.
#include "support/synthetic_trial.hpp"

namespace bnlab::test {

using nlohmann::json;

experiment::TrialSpec synthetic_trial(const SyntheticTrialOptions& o) {
  experiment::TrialSpec t;
  t.variant = o.norm == "batch" ? "batchnorm" : "plain";
  t.seed = o.seed;
  t.id = t.variant + "__seed=" + std::to_string(o.seed);
  t.data.load.dataset = "synthetic";
  t.data.synthetic.train = 256;
  t.data.synthetic.test = 128;
  t.data.synthetic.classes = 4;
  t.data.synthetic.channels = 1;
  t.data.synthetic.height = 8;
  t.data.synthetic.width = 8;
  t.data.synthetic.seed = 3;
  t.input = {1, 8, 8};
  t.layers = json::array({{{"type", "flatten"}}, {{"type", "dense"}, {"units", 16}}});
  if (o.norm == "batch") t.layers.push_back({{"type", "batchnorm"}});
  t.layers.push_back({{"type", "relu"}});
  if (o.dropout > 0) t.layers.push_back({{"type", "dropout"}, {"rate", o.dropout}});
  t.layers.push_back({{"type", "dense"}, {"units", 4}});
  t.train.epochs = o.epochs;
  t.train.batch_size = 32;
  t.train.drop_last = o.norm == "batch";
  t.train.optimizer.type = "sgd";
  t.train.optimizer.lr = o.lr;
  t.train.optimizer.momentum = 0.9;
  t.metrics.layer_stats = o.layer_stats;
  t.metrics.log_every_steps = 4;
  t.metrics.probe_samples = 64;
  t.metrics.target_accuracy = 0.5;
  t.resolved = {{"variant", t.variant}, {"seed", t.seed}, {"lr", o.lr}};
  return t;
}

json synthetic_config(int epochs) {
  return {
      {"name", "synthetic-test"},
      {"description", "runner tests"},
      {"data",
       {{"dataset", "synthetic"},
        {"synthetic",
         {{"train", 256}, {"test", 128}, {"classes", 4}, {"channels", 1}, {"height", 8}, {"width", 8}}}}},
      {"model",
       {{"input", {1, 8, 8}},
        {"layers", json::array({{{"type", "flatten"}},
                                {{"type", "dense"}, {"units", 16}},
                                {{"type", "norm"}},
                                {{"type", "relu"}},
                                {{"type", "dense"}, {"units", 4}}})}}},
      {"variants", {{"plain", {{"norm", "none"}}}, {"batchnorm", {{"norm", "batch"}}}}},
      {"train",
       {{"epochs", epochs},
        {"batch_size", 32},
        {"optimizer", {{"type", "sgd"}, {"lr", 0.1}, {"momentum", 0.9}}}}},
      {"seeds", {1, 2}},
      {"metrics", {{"target_accuracy", 0.5}, {"log_every_steps", 4}, {"probe_samples", 64}}},
  };
}

}  // namespace bnlab::test
