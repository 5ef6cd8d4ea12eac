// Learning-rate schedules: warmup factor × decayed rate, both pure functions of the global step.
#include "optim/schedule.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"

namespace bnlab::optim {

namespace {

const char* kind_name(ScheduleSpec::Kind kind) {
  switch (kind) {
    case ScheduleSpec::Kind::Constant:
      return "constant";
    case ScheduleSpec::Kind::Step:
      return "step";
    case ScheduleSpec::Kind::MultiStep:
      return "multistep";
    case ScheduleSpec::Kind::Cosine:
      return "cosine";
  }
  return "unknown";
}

[[noreturn]] void fail(const std::string& field, const std::string& problem) {
  throw ConfigError("schedule " + field + " " + problem);
}

// The schedule without warmup. Step and multistep count from step 0; cosine runs from the end of warmup
// to total_steps, so warmup does not eat into the decay.
double decayed(const ScheduleSpec& spec, long step) {
  switch (spec.kind) {
    case ScheduleSpec::Kind::Constant:
      return spec.base_lr;
    case ScheduleSpec::Kind::Step:
      return spec.base_lr * std::pow(spec.gamma, static_cast<double>(step / spec.step_size));
    case ScheduleSpec::Kind::MultiStep: {
      long passed = 0;
      for (long m : spec.milestones)
        if (step >= m) ++passed;
      return spec.base_lr * std::pow(spec.gamma, static_cast<double>(passed));
    }
    case ScheduleSpec::Kind::Cosine: {
      const double span = static_cast<double>(spec.total_steps - spec.warmup_steps);
      double progress = static_cast<double>(step - spec.warmup_steps) / span;
      progress = progress < 0.0 ? 0.0 : (progress > 1.0 ? 1.0 : progress);
      return spec.min_lr + (spec.base_lr - spec.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
    }
  }
  return spec.base_lr;
}

}  // namespace

void validate(const ScheduleSpec& spec) {
  if (!std::isfinite(spec.base_lr) || spec.base_lr < 0.0)
    fail("base_lr", "must be a finite value ≥ 0, got " + std::to_string(spec.base_lr));
  if (spec.total_steps < 1) fail("total_steps", "must be ≥ 1, got " + std::to_string(spec.total_steps));
  if (spec.warmup_steps < 0) fail("warmup_steps", "must be ≥ 0, got " + std::to_string(spec.warmup_steps));
  switch (spec.kind) {
    case ScheduleSpec::Kind::Constant:
      break;
    case ScheduleSpec::Kind::Step:
      if (spec.step_size < 1)
        fail("step_size", "must be ≥ 1 for a step schedule, got " + std::to_string(spec.step_size));
      if (!std::isfinite(spec.gamma) || spec.gamma <= 0.0)
        fail("gamma", "must be a finite value > 0, got " + std::to_string(spec.gamma));
      break;
    case ScheduleSpec::Kind::MultiStep:
      if (spec.milestones.empty()) fail("milestones", "must list at least one step for a multistep schedule");
      for (std::size_t i = 0; i < spec.milestones.size(); ++i) {
        if (spec.milestones[i] < 0)
          fail("milestones", "must be steps ≥ 0, got " + std::to_string(spec.milestones[i]) + " at index " +
                                 std::to_string(i));
        if (i > 0 && spec.milestones[i] <= spec.milestones[i - 1])
          fail("milestones", "must be strictly increasing, got " + std::to_string(spec.milestones[i - 1]) +
                                 " then " + std::to_string(spec.milestones[i]));
      }
      if (!std::isfinite(spec.gamma) || spec.gamma <= 0.0)
        fail("gamma", "must be a finite value > 0, got " + std::to_string(spec.gamma));
      break;
    case ScheduleSpec::Kind::Cosine:
      if (!std::isfinite(spec.min_lr) || spec.min_lr < 0.0 || spec.min_lr > spec.base_lr)
        fail("min_lr", "must be in [0, base_lr = " + std::to_string(spec.base_lr) + "], got " +
                           std::to_string(spec.min_lr));
      if (spec.warmup_steps >= spec.total_steps)
        fail("warmup_steps", "must be smaller than total_steps (" + std::to_string(spec.total_steps) +
                                 ") for a cosine schedule, got " + std::to_string(spec.warmup_steps));
      break;
    default:
      fail("kind", "is not a known schedule type");
  }
}

double learning_rate(const ScheduleSpec& spec, long step) {
  validate(spec);
  if (step < 0) throw Error("learning_rate: step must be ≥ 0, got " + std::to_string(step));
  const double lr = decayed(spec, step);
  if (step < spec.warmup_steps)
    return lr * static_cast<double>(step + 1) / static_cast<double>(spec.warmup_steps);
  return lr;
}

nlohmann::json describe(const ScheduleSpec& spec) {
  nlohmann::json out{{"type", kind_name(spec.kind)},
                     {"base_lr", spec.base_lr},
                     {"total_steps", spec.total_steps},
                     {"warmup_steps", spec.warmup_steps}};
  switch (spec.kind) {
    case ScheduleSpec::Kind::Constant:
      break;
    case ScheduleSpec::Kind::Step:
      out["step_size"] = spec.step_size;
      out["gamma"] = spec.gamma;
      break;
    case ScheduleSpec::Kind::MultiStep:
      out["milestones"] = spec.milestones;
      out["gamma"] = spec.gamma;
      break;
    case ScheduleSpec::Kind::Cosine:
      out["min_lr"] = spec.min_lr;
      break;
  }
  return out;
}

}  // namespace bnlab::optim
