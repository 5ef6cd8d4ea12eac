// Verdicts on the BN-vs-dropout claims, from a report's groups and variants, with the numbers behind them.
#pragma once

#include <string>
#include <vector>

#include "experiment/report.hpp"

namespace bnlab::experiment {

// The decision rule, printed with every report.
extern const char* const kVerdictRule;

// "supported" when A's interval mean ± std lies entirely on the claimed side of B's, "not supported" when
// it lies entirely on the other side, else "inconclusive" (also when either side has fewer than 2 seeds).
std::string compare_verdict(const Stat& a, const Stat& b, bool higher_is_better);

// One claim per comparison the run's variants allow (several when a class has several variants); a claim
// the run cannot speak to appears once as "not assessed" with the reason.
std::vector<Claim> assess_claims(const Report& report);

}  // namespace bnlab::experiment
