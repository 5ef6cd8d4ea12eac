// Learning-rate schedules as pure functions lr(step) of the global step (0-based).
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

namespace bnlab::optim {

struct ScheduleSpec {
  enum class Kind { Constant, Step, MultiStep, Cosine } kind = Kind::Constant;
  double base_lr = 0.1;
  long total_steps = 1;          // cosine decays from the end of warmup to min_lr at total_steps
  long warmup_steps = 0;         // linear warmup: lr·(step+1)/warmup_steps for step < warmup_steps
  long step_size = 1;            // Step: multiply by gamma every step_size steps (counted from step 0)
  std::vector<long> milestones;  // MultiStep: multiply by gamma at each milestone (strictly increasing)
  double gamma = 0.1;
  double min_lr = 0.0;  // Cosine floor
};

// Validates the spec (throws bnlab::ConfigError naming the field) and returns lr(step): the decayed rate
// times the warmup factor (step+1)/warmup_steps while step < warmup_steps.
double learning_rate(const ScheduleSpec& spec, long step);
// Throws bnlab::ConfigError whose message starts with "schedule <field>".
void validate(const ScheduleSpec& spec);
nlohmann::json describe(const ScheduleSpec& spec);

}  // namespace bnlab::optim
