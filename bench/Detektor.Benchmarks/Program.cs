using BenchmarkDotNet.Running;
using Detektor.Benchmarks;

// dotnet run -c Release --project bench/Detektor.Benchmarks -- --filter '*'      BenchmarkDotNet suites
// dotnet run -c Release --project bench/Detektor.Benchmarks -- api-load [secs]   50-client load test of the frames API
if (args.Length > 0 && args[0] == "api-load")
{
    return await ApiLoadTest.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20);
}

BenchmarkSwitcher.FromAssembly(typeof(FrameTrackingBenchmarks).Assembly).Run(args);
return 0;
