using System.CommandLine;
using System.Text.Json;

namespace Detektor.Cli;

internal static class HealthCommand
{
    public static Command Create()
    {
        var server = ServerOption.Create();
        var probe = new Option<string>("--probe")
        {
            Description = "Which probe: health (liveness), ready or startup.",
            DefaultValueFactory = _ => "health",
        };
        probe.AcceptOnlyFromAmong("health", "ready", "startup");
        var all = new Option<bool>("--all") { Description = "Check every registered instance (the discovery registry): a table; exits 1 when any is unhealthy or unreachable, 2 when the registry cannot be read." };
        var redis = Cluster.RedisOption();
        var command = new Command("health", "Check a running Detektor: prints every check; exits 1 when unhealthy, 2 when unreachable.") { server, probe, all, redis };
        command.SetAction(async (parse, ct) =>
        {
            var url = parse.GetValue(server)!;
            if (parse.GetValue(all))
            {
                return await CheckAllAsync(parse.GetValue(redis), url, parse.GetValue(probe)!, ct);
            }

            using var client = ServerOption.Client(url);
            try
            {
                using var response = await client.GetAsync(parse.GetValue(probe), ct);
                using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
                var root = doc.RootElement;
                var status = root.GetProperty("status").GetString();
                await Console.Out.WriteLineAsync($"{root.GetProperty("service").GetString()} {root.GetProperty("version").GetString()} at {url}: {status} (HTTP {(int)response.StatusCode})");
                foreach (var check in root.GetProperty("checks").EnumerateObject())
                {
                    await Console.Out.WriteLineAsync($"  {check.Name,-24} {check.Value.GetString()}");
                }

                return status == "unhealthy" || !response.IsSuccessStatusCode ? 1 : 0;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
            {
                await Console.Error.WriteLineAsync($"detektor: cannot check {url}: {ex.Message}");
                return 2;
            }
        });
        return command;
    }

    private static async Task<int> CheckAllAsync(string? redis, string server, string probe, CancellationToken ct)
    {
        if (await Cluster.TryListAsync(redis, server, ct) is not { } instances)
        {
            return 2;
        }

        if (instances.Count == 0)
        {
            await Console.Error.WriteLineAsync("detektor: no instance is registered.");
            return 1;
        }

        var results = await Cluster.ProbeAllAsync(instances, probe, ct);
        var rows = instances.Zip(results, (i, r) => new[] { i.Id, string.Join(',', i.Roles), i.Url, r.Status, r.Detail });
        await Console.Out.WriteAsync(Cluster.Table(["INSTANCE", "ROLES", "URL", probe.ToUpperInvariant(), "DETAIL"], rows));
        var bad = results.Count(r => r.Status is "unhealthy" or "unreachable");
        await Console.Out.WriteLineAsync($"{instances.Count} instance(s), {bad} unhealthy or unreachable");
        return bad > 0 ? 1 : 0;
    }
}
