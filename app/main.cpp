// bnlab command-line entry point: parses arguments and dispatches to the self-registered subcommands.
#include <algorithm>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "commands/registry.hpp"
#include "core/blas_kernels.hpp"
#include "core/error.hpp"
#include "core/version.hpp"

namespace bnlab::app {
std::vector<Command>& commands() {
  static std::vector<Command> list;
  return list;
}
}  // namespace bnlab::app

int main(int argc, char** argv) {
  bnlab::core::prefer_fastest_blas_kernels(argv);
  using namespace bnlab::app;
  CLI::App app{"bnlab: measure what Batch Normalization does to training"};
  app.set_version_flag(
      "--version", std::string("bnlab ") + bnlab::core::version() + " (" + bnlab::core::git_revision() + ")");
  app.require_subcommand(0, 1);

  auto& list = commands();
  std::sort(list.begin(), list.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
  std::map<CLI::App*, std::function<int()>> actions;
  for (auto& c : list) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    actions[sub] = c.setup(*sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return 0;
  }
  try {
    return actions.at(app.get_subcommands().front())();
  } catch (const bnlab::Error& e) {
    std::cerr << "bnlab: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bnlab: internal error: " << e.what() << "\n";
    return 3;
  }
}
