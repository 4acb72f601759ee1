using Detektor.Core.Buffers;
using Detektor.Processing.Pipeline;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Capture.Tests.Pipeline;

/// <summary>Frame memory through the whole in-process pipeline: capture → bus → processing → store, with the API running.</summary>
public sealed class PooledFramesTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Pipeline_FramesFlowing_PoolStopsAllocatingAndEveryBufferComesBack()
    {
        const int framesCapacity = 4;
        var sut = await InProcessDetektor.StartAsync(
            [("pool", "testsrc2://")],
            new Dictionary<string, string?>
            {
                ["Detektor:Bus:FramesCapacity"] = framesCapacity.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Detektor:CommandLineCameras:0:Width"] = "160",
                ["Detektor:CommandLineCameras:0:Height"] = "120",
                ["Detektor:CommandLineCameras:0:Fps"] = "25",
            });
        var pool = sut.Services.GetRequiredService<FrameBufferPool>();
        var processing = sut.Services.GetRequiredService<FrameProcessingWorker>();

        await Eventually.WaitAsync(() => processing.FramesHandled >= 50, TimeSpan.FromSeconds(120), "50 frames processed (warm-up)");
        var allocatedAfterWarmUp = pool.Allocated;
        await Eventually.WaitAsync(() => processing.FramesHandled >= 250, TimeSpan.FromSeconds(120), "250 frames processed");
        var allocated = pool.Allocated;
        var rented = pool.Rented;
        await sut.DisposeAsync();

        output.WriteLine($"rented {rented}, allocated {allocatedAfterWarmUp} after warm-up, {allocated} after 250 frames, outstanding after stop {pool.Outstanding}");

        // At most: the frames queue, one frame per processing consumer (2), the latest-frame snapshot, the reader's
        // hand-over queue (2), the frame being read and the one being published — however many frames went through.
        Assert.True(rented >= 250, $"{rented} frames rented");
        Assert.InRange(allocated, 1, framesCapacity + 2 + 5);
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(pool.Rented, pool.Returned);
    }
}
