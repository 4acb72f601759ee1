using System.Globalization;
using System.Numerics;
using Detektor.Core.Frames;
using Detektor.Processing.Pipeline;

namespace Detektor.Processing.Processors;

/// <summary>
/// The simplest real processor: measures the mean brightness of the frame (0–255, SIMD over the pooled pixels) and records
/// it as the tag <c>brightness</c>. It shows what a processor looks like and gives every frame a cheap, real processing step.
/// </summary>
public sealed class SampleProcessor : FrameProcessor
{
    public const string ProcessorName = "sample";

    public override string Name => ProcessorName;

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        if (frame.Pixels is { } pixels)
        {
            // yuv420p: the Y plane is the brightness (limited range); rgb24: the mean of every byte.
            var plane = frame.Metadata.PixelFormat == PixelFormats.Yuv420p ? pixels.Span[..(frame.Metadata.Width * frame.Metadata.Height)] : pixels.Span;
            var brightness = MeanByte(plane);
            frame.Metadata.Tags["brightness"] = brightness.ToString("0.#", CultureInfo.InvariantCulture);
            if (frame.Activity is { IsAllDataRequested: true } span)
            {
                span.SetTag("frame.brightness", brightness);
                span.SetTag(Core.Telemetry.SemanticAttributes.FramePixelFormat, frame.Metadata.PixelFormat);
            }
        }

        return ValueTask.FromResult(ProcessorResult.Continue);
    }

    /// <summary>Mean of all bytes (for rgb24 that is the mean of the channels, a fair brightness).</summary>
    public static double MeanByte(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return 0;
        }

        ulong sum = 0;
        var i = 0;
        if (Vector.IsHardwareAccelerated && data.Length >= Vector<byte>.Count)
        {
            var acc = Vector<uint>.Zero;
            var lastBlock = data.Length - Vector<byte>.Count;
            var sinceFlush = 0;
            for (; i <= lastBlock; i += Vector<byte>.Count)
            {
                Vector.Widen(new Vector<byte>(data[i..]), out var lo16, out var hi16);
                Vector.Widen(lo16 + hi16, out var lo32, out var hi32);
                acc += lo32 + hi32;
                // each lane gains at most 4 * 255 per step; flush well before uint overflow
                if (++sinceFlush == 1 << 20)
                {
                    sum += SumLanes(acc);
                    acc = Vector<uint>.Zero;
                    sinceFlush = 0;
                }
            }

            sum += SumLanes(acc);
        }

        for (; i < data.Length; i++)
        {
            sum += data[i];
        }

        return (double)sum / data.Length;
    }

    private static ulong SumLanes(Vector<uint> acc)
    {
        Vector.Widen(acc, out var lo, out var hi);
        return Vector.Sum(lo + hi);
    }
}
