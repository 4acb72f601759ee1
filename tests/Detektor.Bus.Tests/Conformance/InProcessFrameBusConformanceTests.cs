namespace Detektor.Bus.Tests.Conformance;

/// <summary>The conformance suite against the embedded bus.</summary>
public sealed class InProcessFrameBusConformanceTests : FrameBusConformanceTests
{
    protected override Task<BusHost> StartAsync(Dictionary<string, string?> settings) => BusHost.StartAsync(settings);
}
