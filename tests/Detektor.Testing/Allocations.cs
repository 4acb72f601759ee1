namespace Detektor.Testing;

/// <summary>What code allocates once it runs in its steady state.</summary>
public static class Allocations
{
    /// <summary>
    /// Bytes the current thread allocates over <paramref name="iterations"/> calls of <paramref name="step"/>: the least
    /// of up to <paramref name="windows"/> windows, stopping at the first that allocates nothing. An allocation on every
    /// call shows in every window, so the test still fails for it; what happens once does not count: a method compiled
    /// again mid-loop (tiered JIT, on-stack replacement), or a garbage collection that other tests' threads set off inside
    /// the window, which CI saw move this thread's count by a few KB (3,376 and 5,408 bytes) with nothing allocated per call.
    /// </summary>
    public static long OfCurrentThread(Action step, int iterations, int windows = 5)
    {
        ArgumentNullException.ThrowIfNull(step);
        var least = long.MaxValue;
        for (var window = 0; window < windows && least > 0; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < iterations; i++)
            {
                step();
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
