// Self-registration of subcommands: each app/commands/<name>.cpp adds itself, so main.cpp never changes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace bnlab::app {

// setup adds the subcommand's options to `app` and returns the action to run when it was chosen; the
// action returns the process exit status.
using CommandSetup = std::function<std::function<int()>(CLI::App& app)>;

struct Command {
  std::string name, description;
  CommandSetup setup;
  int order;  // position in --help
};

std::vector<Command>& commands();

// Use at namespace scope in a command file: static const CommandRegistrar reg{"run", "…", setup, 10};
struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string description, CommandSetup setup, int order) {
    commands().push_back({std::move(name), std::move(description), std::move(setup), order});
  }
};

}  // namespace bnlab::app
