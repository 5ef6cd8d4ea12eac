// Learning-rate schedules as pure functions lr(step) of the global step (0-based).
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

namespace bnlab::optim {

struct ScheduleSpec {
  enum class Kind { Constant, Step, MultiStep, Cosine } kind = Kind::Constant;
  double base_lr = 0.1;
  long total_steps = 1;              // cosine decays to min_lr at total_steps
  long warmup_steps = 0;             // linear warmup: lr·(step+1)/warmup_steps for step < warmup_steps
  long step_size = 1;                // Step: multiply by gamma every step_size steps
  std::vector<long> milestones;      // MultiStep: multiply by gamma at each milestone
  double gamma = 0.1;
  double min_lr = 0.0;  // Cosine floor
};

// Validates the spec (throws bnlab::ConfigError naming the field) and returns lr(step).
double learning_rate(const ScheduleSpec& spec, long step);
void validate(const ScheduleSpec& spec);
nlohmann::json describe(const ScheduleSpec& spec);

}  // namespace bnlab::optim
