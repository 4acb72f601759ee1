using System.Diagnostics;
using System.Globalization;

namespace Detektor.Benchmarks;

/// <summary>
/// Detections (detect-stage runs on a frame) per second with the default model, for a few ways of sharing the cores:
/// W concurrent workers (as Detektor:Processing:Concurrency) × T ONNX Runtime threads each (Detektor:Detection:IntraOpThreads).
/// Each configuration warms up for 3 s, then counts completed detections for the measuring time.
/// </summary>
public static class Throughput
{
    public static void Run(double seconds)
    {
        var frame = DetectionBench.VtestFrame();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Detect throughput, CenterNet 512x512 on vtest.avi@5s (768x576), {Environment.ProcessorCount} cores, {seconds:0} s per configuration"));
        foreach (var spinning in new[] { false, true })
        {
            foreach (var (workers, threads) in new[] { (1, 1), (1, 2), (2, 1) })
            {
                using var detector = DetectionBench.OpenCenterNet(threads, spinning);
                var perSecond = Measure(detector, frame, workers, 3);
                perSecond = Measure(detector, frame, workers, seconds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  workers={workers} intra-op threads={threads} spinning={(spinning ? "on" : "off")}: {perSecond:0.0} detections/s ({1000 / perSecond * workers:0.0} ms per detection per worker)"));
            }
        }
    }

    private static double Measure(Detection.Detectors.ObjectDetector detector, byte[] frame, int workers, double seconds)
    {
        long done = 0;
        var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        var tasks = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(() =>
        {
            var found = new List<Core.Messages.Detection>();
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                found.Clear();
                detector.Detect(frame, DetectionBench.Width, DetectionBench.Height, DetectionBench.Request, found);
                Interlocked.Increment(ref done);
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(tasks);
        return done / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }
}
