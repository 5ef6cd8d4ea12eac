// bnlab command-line entry point: parses arguments and dispatches to one subcommand per file.
#include <iostream>

#include <CLI/CLI.hpp>

#include "core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"bnlab: measure what Batch Normalization does to training"};
  app.set_version_flag("--version", std::string("bnlab ") + BNLAB_VERSION + " (" + BNLAB_GIT_REVISION + ")");
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
  }
  return 0;
}
