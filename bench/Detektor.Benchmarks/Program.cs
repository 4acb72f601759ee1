using System.Globalization;
using BenchmarkDotNet.Running;
using Detektor.Benchmarks;

// dotnet run -c Release --project bench/Detektor.Benchmarks -- throughput [seconds]
// dotnet run -c Release --project bench/Detektor.Benchmarks -- --filter '*DetectStage*'
if (args.Length > 0 && args[0] == "throughput")
{
    Throughput.Run(args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 20);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(DetectionBench).Assembly).Run(args);
