// A persistent pool (threads are started once by set_threads, not per call) so a parallel layer costs two
// condition-variable hand-offs per call rather than thread creation.
#include "core/parallel.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/blas.hpp"

namespace bnlab::core {

namespace {

thread_local bool in_parallel_region = false;

// Spin this long for the next task (or for workers to finish) before sleeping on a condition variable:
// a training step hands the pool dozens of tasks a few hundred microseconds apart, and a futex wake-up
// costs tens of microseconds on a virtual machine.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until ready() or kSpin has passed; returns ready().
template <class Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return ready();
    cpu_relax();
  }
}

class Pool {
 public:
  explicit Pool(int size) : size_(size), owner_(::getpid()) {
    for (int w = 1; w < size; ++w) workers_.emplace_back([this, w] { work(w); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_.store(true);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }
  // A forked child has only the thread that forked: the parent's workers do not exist there.
  bool usable_here() const { return owner_ == ::getpid(); }

  void run(std::size_t count, const std::function<void(std::size_t, std::size_t, int)>& body) {
    body_ = &body;
    count_ = count;
    error_ = nullptr;
    pending_.store(size_ - 1, std::memory_order_relaxed);
    // Workers are usually spinning; the mutex and the notify are only needed for one that went to sleep.
    // Both sides store then load (seq_cst), so a worker about to sleep either sees the new generation in
    // its wait predicate or is counted in sleeping_ here and gets the notify.
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
    }
    run_chunk(0);
    auto all_done = [this] { return pending_.load(std::memory_order_seq_cst) == 0; };
    if (!spin_until(all_done)) {
      std::unique_lock<std::mutex> lock(mutex_);
      owner_waiting_.store(true, std::memory_order_seq_cst);
      done_.wait(lock, all_done);
      owner_waiting_.store(false, std::memory_order_relaxed);
    }
    body_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(int worker) {
    const std::size_t begin = count_ * worker / size_, end = count_ * (worker + 1) / size_;
    if (begin == end) return;
    try {
      (*body_)(begin, end, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }

  void work(int worker) {
    in_parallel_region = true;
    std::uint64_t seen = 0;
    for (;;) {
      auto woken = [&] {
        return quit_.load(std::memory_order_acquire) || generation_.load(std::memory_order_seq_cst) != seen;
      };
      if (!spin_until(woken)) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleeping_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, woken);
        sleeping_.fetch_sub(1, std::memory_order_relaxed);
      }
      if (quit_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      run_chunk(worker);
      // Same store-then-load pairing as in run(): the owner either sees pending_ reach zero before it
      // sleeps, or is flagged here and gets the notify (under the mutex, so not before it waits).
      if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          owner_waiting_.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  int size_;
  pid_t owner_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> quit_{false};
  std::atomic<int> sleeping_{0};            // workers waiting on wake_
  std::atomic<bool> owner_waiting_{false};  // run()'s caller waiting on done_
  // Written by run() before the generation is published, read by workers after they see it.
  const std::function<void(std::size_t, std::size_t, int)>* body_ = nullptr;
  std::size_t count_ = 0;
  std::exception_ptr error_;
};

std::unique_ptr<Pool>& pool() {
  static std::unique_ptr<Pool> instance;
  return instance;
}

int requested_threads = 1;

}  // namespace

void set_threads(int n) {
  requested_threads = std::max(1, n);
  // BLAS never starts threads of its own: its spinning workers would compete with the pool's for the same
  // cores (PyTorch loses up to 5x that way). Every large GEMM is split over the pool instead.
  set_blas_threads(1);
  auto& p = pool();
  if (p && p->usable_here() && p->size() == requested_threads) return;
  if (p && !p->usable_here()) (void)p.release();  // its threads live in the parent; nothing here to join
  p.reset();
  if (requested_threads > 1) p = std::make_unique<Pool>(requested_threads);
}

int threads() {
  return requested_threads;
}

void parallel_for(std::size_t count, const std::function<void(std::size_t, std::size_t, int)>& body) {
  auto& p = pool();
  if (count == 0) return;
  if (!p || in_parallel_region || count == 1) {
    body(0, count, 0);
    return;
  }
  if (!p->usable_here()) set_threads(requested_threads);
  in_parallel_region = true;
  try {
    pool()->run(count, body);
  } catch (...) {
    in_parallel_region = false;
    throw;
  }
  in_parallel_region = false;
}

}  // namespace bnlab::core
