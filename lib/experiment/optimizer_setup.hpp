// Turns a trial's TrainSpec into an optimizer over the model's parameters and a per-step lr schedule.
#pragma once

#include <memory>
#include <vector>

#include "experiment/config.hpp"
#include "nn/layer.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"

namespace bnlab::experiment {

// sgd, adam or adamw; throws bnlab::ConfigError naming train.optimizer.type for anything else.
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<nn::Param> params);

// The schedule in steps: epochs (warmup, step period, milestones) are multiplied by steps_per_epoch
// and rounded to the nearest step; the base rate is train.optimizer.lr.
optim::ScheduleSpec schedule_for(const TrainSpec& train, std::size_t steps_per_epoch);

}  // namespace bnlab::experiment
