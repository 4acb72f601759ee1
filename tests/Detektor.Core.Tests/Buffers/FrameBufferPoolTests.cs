using Detektor.Core.Buffers;

namespace Detektor.Core.Tests.Buffers;

public class FrameBufferPoolTests
{
    [Fact]
    public void Rent_ReleasedBuffers_AreReusedWithoutAllocating()
    {
        var sut = new FrameBufferPool();
        var warm = Enumerable.Range(0, 4).Select(_ => sut.Rent(1000)).ToList();
        warm.ForEach(b => b.Release());
        var allocatedAfterWarmUp = sut.Allocated;

        for (var i = 0; i < 10_000; i++)
        {
            var buffer = sut.Rent(1000);
            buffer.Span[0] = (byte)i;
            buffer.Release();
        }

        Assert.Equal(4, allocatedAfterWarmUp);
        Assert.Equal(allocatedAfterWarmUp, sut.Allocated);
        Assert.Equal(0, sut.Outstanding);
    }

    [Fact]
    public void Rent_TheBufferReleasedLastComesBackFirst()
    {
        var sut = new FrameBufferPool();
        var buffers = Enumerable.Range(0, 3).Select(_ => sut.Rent(1000)).ToList();
        buffers.ForEach(b => b.Release()); // 0, 1, 2: buffer 2 is the one most likely still in the cache

        var again = Enumerable.Range(0, 3).Select(_ => sut.Rent(1000)).ToList();

        Assert.Same(buffers[2], again[0]);
        Assert.Same(buffers[1], again[1]);
        Assert.Same(buffers[0], again[2]);
        Assert.Equal(3, sut.Allocated);
        again.ForEach(b => b.Release());
    }

    [Fact]
    public void Rent_OtherSize_IsNotServedFromThisSizesIdleBuffers()
    {
        var sut = new FrameBufferPool();
        var small = sut.Rent(100);
        small.Release();

        var large = sut.Rent(200);

        Assert.NotSame(small, large);
        Assert.Equal(200, large.Span.Length);
        Assert.Equal(2, sut.Allocated);
        Assert.Same(small, sut.Rent(100));
    }

    [Fact]
    public void Release_ReturnsToPoolOnlyAfterLastHolder()
    {
        var sut = new FrameBufferPool();
        var buffer = sut.Rent(64);
        buffer.AddRef(); // a second consumer
        buffer.AddRef(); // a third

        buffer.Release();
        buffer.Release();
        Assert.Equal(1, sut.Outstanding);
        Assert.Equal(64, buffer.Span.Length); // still usable by the last holder

        buffer.Release();
        Assert.Equal(0, sut.Outstanding);
        Assert.Throws<ObjectDisposedException>(() => buffer.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => buffer.AddRef());
    }

    [Fact]
    public void Release_TooManyTimes_Throws()
    {
        var sut = new FrameBufferPool();
        var buffer = sut.Rent(8);
        buffer.Release();

        Assert.Throws<InvalidOperationException>(() => buffer.Release());
        Assert.Equal(0, sut.Outstanding);
    }

    [Fact]
    public void Return_BeyondRetentionLimit_IsDiscardedAndCounted()
    {
        var sut = new FrameBufferPool(maxRetainedPerSize: 2);
        var buffers = Enumerable.Range(0, 5).Select(_ => sut.Rent(16)).ToList();

        buffers.ForEach(b => b.Release());

        Assert.Equal(3, sut.Discarded);
        Assert.Equal(0, sut.Outstanding);
    }

    [Fact]
    public void Rent_ConcurrentHolders_AllBuffersComeBack()
    {
        var sut = new FrameBufferPool();
        Parallel.For(0, 2000, i =>
        {
            var b = sut.Rent(256);
            var holders = 1 + (i % 4);
            for (var h = 1; h < holders; h++)
            {
                b.AddRef();
            }

            Parallel.For(0, holders, _ => b.Release());
        });

        Assert.Equal(0, sut.Outstanding);
        Assert.Equal(2000, sut.Rented);
    }
}
