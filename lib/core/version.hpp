// bnlab's version and the git revision it was built from (written into every run's experiment.json).
#pragma once

namespace bnlab::core {

const char* version();       // e.g. "0.1.0"
const char* git_revision();  // short hash, or "unknown" outside a git checkout

}  // namespace bnlab::core
