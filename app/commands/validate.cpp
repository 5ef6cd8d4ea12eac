// `bnlab validate CONFIG…`: checks config files (keys, values, model shapes, plan) without training.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands/registry.hpp"
#include "core/error.hpp"
#include "experiment/config.hpp"
#include "experiment/experiment_summary.hpp"

namespace bnlab::app {
namespace {

struct ValidateArgs {
  std::vector<std::string> configs, sets;
  bool list_trials = false;
};

std::function<int()> setup_validate(CLI::App& app) {
  auto args = std::make_shared<ValidateArgs>();
  app.add_option("CONFIG", args->configs, "Experiment config files (JSON)")->required();
  app.add_option("--set", args->sets, "Override a key as for `run`: KEY=VALUE (VALUE is JSON, else a string)")
      ->allow_extra_args(false);
  app.add_flag("--trials", args->list_trials, "Also list the trial ids");
  return [args] {
    bool all_valid = true;
    for (const auto& path : args->configs) {
      try {
        const auto experiment = experiment::load_experiment(path, args->sets);
        std::cout << "ok: " << path << ": " << experiment::summarize_experiment(experiment);
        if (args->list_trials)
          for (const auto& t : experiment.trials) std::cout << "    " << t.id << "\n";
      } catch (const Error& e) {
        all_valid = false;
        std::cout << "error: " << e.what() << "\n";
      }
    }
    return all_valid ? 0 : 1;
  };
}

const CommandRegistrar registrar{
    "validate", "Check config files without training: keys, values, shapes, trials", setup_validate, 20};

}  // namespace
}  // namespace bnlab::app
