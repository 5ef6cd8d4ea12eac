// bnlab's own thread pool: parallel_for over a range, with OpenBLAS kept at one thread inside it.
#pragma once

#include <cstddef>
#include <functional>

namespace bnlab::core {

// Threads for bnlab's loops and for BLAS calls made outside parallel regions. 1 (the default) starts no
// threads at all. Inside parallel_for every worker calls BLAS single-threaded, so the two pools never
// oversubscribe the cores.
void set_threads(int n);
int threads();

// Splits [0, count) into at most threads() contiguous chunks and runs body(begin, end, worker) on each,
// worker in [0, threads()), the calling thread taking chunk 0; returns when all are done and rethrows the
// first exception a chunk threw. The chunk bounds depend only on count and threads(). A nested call, or
// one with threads() == 1, runs body(0, count, 0) inline.
void parallel_for(std::size_t count, const std::function<void(std::size_t, std::size_t, int)>& body);

}  // namespace bnlab::core
