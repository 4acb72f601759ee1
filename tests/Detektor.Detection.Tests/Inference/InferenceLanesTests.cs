using System.Diagnostics;
using Detektor.Detection.Inference;
using Detektor.Testing;

namespace Detektor.Detection.Tests.Inference;

public sealed class InferenceLanesTests
{
    [Fact]
    public async Task RunAsync_MoreWorkThanLanes_NeverMoreThanLanesAtOnceAllCompleteWithTheirWait()
    {
        using var sut = new InferenceLanes(2);
        using var release = new ManualResetEventSlim();
        var running = 0;
        var most = 0;
        var threads = new System.Collections.Concurrent.ConcurrentBag<(string? Name, bool Pool)>();
        var tasks = Enumerable.Range(0, 8).Select(i => sut.RunAsync(
            n =>
            {
                var now = Interlocked.Increment(ref running);
                InterlockedMax(ref most, now);
                threads.Add((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
                release.Wait(TimeSpan.FromSeconds(60));
                Interlocked.Decrement(ref running);
                return n * 10;
            },
            i,
            TestContext.Current.CancellationToken)).ToList();

        // Every item is queued by now, so the six that wait started no sooner than the release: each waited at least this long.
        var held = Stopwatch.StartNew();
        await Eventually.WaitAsync(() => Volatile.Read(ref running) == 2, TimeSpan.FromSeconds(30), "two lanes busy");
        Assert.Equal(8, sut.Pending);

        // Both lanes are held: nothing else may start, however long they are held.
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.Equal(2, Volatile.Read(ref running));
        var heldFor = held.Elapsed;
        release.Set();

        var results = await Task.WhenAll(tasks);
        Assert.Equal(Enumerable.Range(0, 8).Select(n => n * 10), results.Select(r => r.Result));
        Assert.Equal(2, most);
        Assert.Equal(0, sut.Pending);
        Assert.All(threads, t => Assert.False(t.Pool, "an inference ran on a thread-pool thread"));
        Assert.All(threads, t => Assert.StartsWith("detektor-inference-", t.Name, StringComparison.Ordinal));
        Assert.Equal(2, threads.Select(t => t.Name).Distinct().Count());

        // Six waited behind the two held lanes at least from the moment all were queued to the release.
        Assert.True(results.Count(r => r.Wait >= heldFor - TimeSpan.FromMilliseconds(1)) >= 6, string.Join(", ", results.Select(r => r.Wait.TotalMilliseconds)));
    }

    [Fact]
    public async Task RunAsync_WorkThrows_TheCallerGetsTheExceptionAndTheLaneGoesOn()
    {
        using var sut = new InferenceLanes(1);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => sut.RunAsync<int, int>(_ => throw new InvalidOperationException("bad model"), 0, TestContext.Current.CancellationToken));
        var after = await sut.RunAsync(n => n + 1, 41, TestContext.Current.CancellationToken);

        Assert.Equal("bad model", ex.Message);
        Assert.Equal(42, after.Result);
    }

    [Fact]
    public async Task RunAsync_CancelledWhileQueued_NeverRuns()
    {
        using var sut = new InferenceLanes(1);
        using var release = new ManualResetEventSlim();
        var ran = 0;
        var blocker = sut.RunAsync(_ => release.Wait(TimeSpan.FromSeconds(60)), 0, TestContext.Current.CancellationToken);
        using var cts = new CancellationTokenSource();
        var queued = sut.RunAsync(_ => Interlocked.Increment(ref ran), 0, cts.Token);

        await cts.CancelAsync();
        release.Set();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.True((await blocker).Result);
        Assert.Equal(1, (await sut.RunAsync(_ => Interlocked.Increment(ref ran), 0, TestContext.Current.CancellationToken)).Result);
    }

    [Fact]
    public async Task RunAsync_TheCallerContinuesOffTheLane()
    {
        using var sut = new InferenceLanes(1);

        var (lane, _) = await sut.RunAsync(_ => Environment.CurrentManagedThreadId, 0, TestContext.Current.CancellationToken);

        Assert.NotEqual(lane, Environment.CurrentManagedThreadId);
        Assert.NotEqual("detektor-inference-0", Thread.CurrentThread.Name);
    }

    [Fact]
    public async Task Dispose_FinishesQueuedWorkThenRefusesMore()
    {
        var sut = new InferenceLanes(1);
        using var release = new ManualResetEventSlim();
        var blocker = sut.RunAsync(_ => release.Wait(TimeSpan.FromSeconds(60)), 0, TestContext.Current.CancellationToken);
        var queued = sut.RunAsync(n => n * 2, 21, TestContext.Current.CancellationToken);

        var disposing = Task.Run(sut.Dispose, TestContext.Current.CancellationToken);
        release.Set();
        await disposing;

        Assert.True((await blocker).Result);
        Assert.Equal(42, (await queued).Result);
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => sut.RunAsync(n => n, 1, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Dispose_NeverUsed_RefusesWorkAfterwards()
    {
        var sut = new InferenceLanes(2);

        sut.Dispose();
        sut.Dispose();

        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => sut.RunAsync(n => n, 1, TestContext.Current.CancellationToken));
        Assert.Equal(0, sut.Pending);
    }

    [Fact]
    public async Task Nice_OnLinux_TheLaneThreadsRunAtThatNicenessAndTheCallerDoesNot()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "niceness per thread is Linux's");
        var refused = 0;
        var callerBefore = ThreadNice(); // 0 usually; not when the whole test run is started under nice
        using var sut = new InferenceLanes(2, nice: 7, niceRefused: () => Interlocked.Increment(ref refused));

        var (lane, _) = await sut.RunAsync(_ => ThreadNice(), 0, TestContext.Current.CancellationToken);

        Assert.Equal(7, lane);

        // The other lane thread sets its niceness when it starts, which may be after this lane has run the work (CI
        // once read NiceApplied in between): it must become true, not be true at this instant.
        await Eventually.WaitAsync(() => sut.NiceApplied, TimeSpan.FromSeconds(10), "every lane thread to run at niceness 7");
        Assert.Equal(callerBefore, ThreadNice());
        Assert.Equal(0, Volatile.Read(ref refused));
    }

    [Fact]
    public async Task Nice_Refused_SaidOnceForAllLanesAndTheWorkStillRuns()
    {
        var refused = 0;
        var asked = new System.Collections.Concurrent.ConcurrentBag<int>();
        using var sut = new InferenceLanes(3, 5, 16, () => Interlocked.Increment(ref refused), nice =>
        {
            asked.Add(nice);
            return false;
        });

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => sut.RunAsync(x => x * 2, i, TestContext.Current.CancellationToken)));
        sut.Dispose(); // joins the lanes: every thread has asked by now

        Assert.Equal([0, 2, 4, 6, 8, 10], results.Select(r => r.Result));
        Assert.Equal([5, 5, 5], asked.Order());
        Assert.Equal(1, Volatile.Read(ref refused));
        Assert.False(sut.NiceApplied);
    }

    /// <summary>Field 19 of /proc/thread-self/stat: the calling thread's niceness.</summary>
    private static int ThreadNice()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[19 - 3], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
