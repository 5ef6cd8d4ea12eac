// bnlab's own thread pool: parallel_for over a range; OpenBLAS always runs single-threaded inside it.
#pragma once

#include <cstddef>
#include <functional>

namespace bnlab::core {

// Threads of bnlab's pool. 1 (the default) starts no threads at all. Also sets OpenBLAS to one thread for
// good: layers split their large GEMMs over this pool, each worker calling BLAS single-threaded, so two
// pools never fight over the cores. Workers spin briefly between tasks before sleeping.
void set_threads(int n);
int threads();

// Splits [0, count) into at most threads() contiguous chunks and runs body(begin, end, worker) on each,
// worker in [0, threads()), the calling thread taking chunk 0; returns when all are done and rethrows the
// first exception a chunk threw. The chunk bounds depend only on count and threads(). A nested call, or
// one with threads() == 1, runs body(0, count, 0) inline.
void parallel_for(std::size_t count, const std::function<void(std::size_t, std::size_t, int)>& body);

}  // namespace bnlab::core
