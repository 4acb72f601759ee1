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
        var command = new Command("health", "Check a running Detektor: prints every check; exits 1 when unhealthy, 2 when unreachable.") { server, probe };
        command.SetAction(async (parse, ct) =>
        {
            var url = parse.GetValue(server)!;
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
}
