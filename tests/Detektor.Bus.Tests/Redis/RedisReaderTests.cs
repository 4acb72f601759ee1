using System.Diagnostics.Metrics;
using Detektor.Bus.Abstractions;
using Detektor.Core.Messages;
using Detektor.Core.Telemetry;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static Detektor.Bus.Tests.TestFrames;

namespace Detektor.Bus.Tests.Redis;

/// <summary>
/// The subscription's own RESP reader (one endpoint, no TLS): it authenticates like the client library, and reads large
/// values from the socket into pooled arrays that are reused entry after entry; what comes out must be what went in.
/// </summary>
public sealed class RedisReaderTests
{
    [Theory]
    [InlineData("auto")] // Detektor's own reader
    [InlineData("client")] // StackExchange.Redis, the way back
    public async Task Read_BehindAPasswordFramesSmallAndLargerThanTheReadBuffer_ComeBackByteForByte(string readConnection)
    {
        await using var server = await RedisServer.StartAsync();
        try
        {
            Assert.StartsWith("+OK", await server.CommandAsync("CONFIG SET requirepass rd-s3cret"), StringComparison.Ordinal);
            var settings = BusHost.RedisSettings(server);
            settings["Detektor:Bus:Redis"] = server.Endpoint + ",password=rd-s3cret";
            settings["Detektor:Bus:Backpressure:Enabled"] = "false";
            settings["Detektor:Bus:Redis:ReadConnection"] = readConnection;
            await using var host = await BusHost.StartAsync(settings);
            await using var frames = host.Bus.Subscribe(Topics.Frames, "processors", "p-1");

            // 8x8 (192 B: a plain array), 64x48 (9 KiB: pooled) and 320x240 (225 KiB: more than the 64 KiB read buffer,
            // most of it read straight into the pooled array), in one batch, so pooled arrays are reused across entries.
            (int Width, int Height)[] sizes = [(8, 8), (64, 48), (320, 240)];
            var sent = new List<(FrameMessage Frame, int Width, int Height)>();
            for (var i = 0; i < 12; i++)
            {
                var (width, height) = sizes[i % sizes.Length];
                var frame = Frame("cam-auth", i, width, height);
                sent.Add((frame, width, height));
                await host.Bus.PublishAsync(Topics.Frames, frame, TestContext.Current.CancellationToken);
            }

            var got = await ReadAsync(frames, sent.Count);
            Assert.Equal(sent.Select(s => s.Frame.Metadata.FrameId), got.Select(d => d.Message.Metadata.FrameId));
            for (var i = 0; i < sent.Count; i++)
            {
                var message = got[i].Message;
                Assert.Equal(sent[i].Frame.Metadata.Trace.TraceId, message.Metadata.Trace.TraceId);
                Assert.Equal(ExpectedPixels(i, sent[i].Width, sent[i].Height), message.Pixels!.Span.ToArray());
                message.Release();
            }

            await frames.AckAsync(got, TestContext.Current.CancellationToken);
        }
        finally
        {
            await server.KillAsync(); // SHUTDOWN from the fixture would need the password
        }
    }

    [Fact]
    public async Task Read_WrongPassword_ReadsNothingAndCountsTheFailure()
    {
        await using var server = await RedisServer.StartAsync();
        try
        {
            Assert.StartsWith("+OK", await server.CommandAsync("CONFIG SET requirepass right-one"), StringComparison.Ordinal);
            var settings = BusHost.RedisSettings(server);
            settings["Detektor:Bus:Redis"] = server.Endpoint + ",password=wrong-one";
            await using var host = await BusHost.StartAsync(settings);
            using var errors = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), TelemetryNames.Bus, "detektor.bus.transport.errors");
            await using var frames = host.Bus.Subscribe(Topics.Frames, "processors", "p-1");
            // The first failure may take the shared connection's timeout (it checks the group first): read until one is
            // counted rather than for a fixed time (in a full run 1 s was not always enough).
            var got = new List<BusDelivery<FrameMessage>>();
            await Eventually.WaitAsync(
                async () =>
                {
                    got.AddRange(await ReadForAsync(frames, TimeSpan.FromMilliseconds(500)));
                    return errors.GetMeasurementSnapshot().Any(m => Equals(m.Tags["operation"], "read"));
                },
                counted => counted,
                TimeSpan.FromSeconds(60),
                "a failed read to be counted");
            Assert.Empty(got);
        }
        finally
        {
            await server.KillAsync();
        }
    }
}
