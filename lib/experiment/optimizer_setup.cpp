// Optimizer and schedule construction from the resolved trial config.
#include "experiment/optimizer_setup.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"

namespace bnlab::experiment {

std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<nn::Param> params) {
  if (spec.type == "sgd") {
    optim::SgdOptions o;
    o.momentum = spec.momentum;
    o.dampening = spec.dampening;
    o.weight_decay = spec.weight_decay;
    o.nesterov = spec.nesterov;
    o.exclude_norm_and_bias = spec.exclude_norm_and_bias;
    return std::make_unique<optim::Sgd>(std::move(params), o);
  }
  if (spec.type == "adam" || spec.type == "adamw") {
    optim::AdamOptions o;
    o.beta1 = spec.beta1;
    o.beta2 = spec.beta2;
    o.eps = spec.eps;
    o.weight_decay = spec.weight_decay;
    o.decoupled_weight_decay = spec.type == "adamw";
    o.exclude_norm_and_bias = spec.exclude_norm_and_bias;
    return std::make_unique<optim::Adam>(std::move(params), o);
  }
  throw ConfigError("train.optimizer.type: unknown optimizer \"" + spec.type +
                    "\" (expected sgd, adam or adamw)");
}

optim::ScheduleSpec schedule_for(const TrainSpec& train, std::size_t steps_per_epoch) {
  const double spe = static_cast<double>(steps_per_epoch);
  const auto steps = [spe](double epochs) { return static_cast<long>(std::llround(epochs * spe)); };
  const ScheduleConfig& c = train.schedule;
  optim::ScheduleSpec s;
  if (c.type == "constant")
    s.kind = optim::ScheduleSpec::Kind::Constant;
  else if (c.type == "step")
    s.kind = optim::ScheduleSpec::Kind::Step;
  else if (c.type == "multistep")
    s.kind = optim::ScheduleSpec::Kind::MultiStep;
  else if (c.type == "cosine")
    s.kind = optim::ScheduleSpec::Kind::Cosine;
  else
    throw ConfigError("train.schedule.type: unknown schedule \"" + c.type +
                      "\" (expected constant, step, multistep or cosine)");
  s.base_lr = train.optimizer.lr;
  s.total_steps = std::max(1L, static_cast<long>(train.epochs) * static_cast<long>(steps_per_epoch));
  s.warmup_steps = steps(c.warmup_epochs);
  s.step_size = std::max(1L, steps(c.step_epochs));
  s.milestones.clear();
  for (double m : c.milestones) s.milestones.push_back(steps(m));
  s.gamma = c.gamma;
  s.min_lr = c.min_lr;
  return s;
}

}  // namespace bnlab::experiment
