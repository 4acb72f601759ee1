using BenchmarkDotNet.Running;
using Detektor.Bus.Benchmarks;

// dotnet run -c Release -- inprocess              BenchmarkDotNet: in-process bus messages/s
// dotnet run -c Release -- redis [seconds]        Redis bus vs redis-benchmark, same payloads, one run; queue overhead per frame
return args.FirstOrDefault() switch
{
    "redis" => await RedisComparison.RunAsync(args.Skip(1).ToArray()),
    "inprocess" => Run(args.Skip(1).ToArray()),
    _ => Usage(),
};

static int Run(string[] rest)
{
    BenchmarkSwitcher.FromTypes([typeof(InProcessBusBenchmarks)]).Run(rest.Length == 0 ? ["--filter", "*"] : rest);
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: Detektor.Bus.Benchmarks inprocess [BenchmarkDotNet args] | redis [seconds per measurement]");
    return 2;
}
