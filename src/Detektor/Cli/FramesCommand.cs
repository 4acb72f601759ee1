using System.CommandLine;
using System.Net;
using System.Text.Json;

namespace Detektor.Cli;

internal static class FramesCommand
{
    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true };

    public static Command Create()
    {
        var command = new Command("frames", "Look up frames in a running Detektor.");

        var id = new Argument<string>("id") { Description = "The frame id." };
        var server = ServerOption.Create();
        var get = new Command("get", "Print a frame's journey: its events, per-stage durations, state and trace id.") { id, server };
        get.SetAction((parse, ct) => FetchAsync(parse.GetValue(server)!, $"api/v1/frames/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct));

        var camera = new Option<string>("--camera") { Description = "Only frames of this camera." };
        var trace = new Option<string>("--trace") { Description = "Only frames of this trace id." };
        var limit = new Option<int>("--limit") { Description = "How many frames (1-1000).", DefaultValueFactory = _ => 20 };
        var server2 = ServerOption.Create();
        var list = new Command("list", "List recent frames, newest first.") { camera, trace, limit, server2 };
        list.SetAction((parse, ct) =>
        {
            var query = $"api/v1/frames?limit={parse.GetValue(limit)}";
            if (parse.GetValue(camera) is { } c)
            {
                query += "&camera_id=" + Uri.EscapeDataString(c);
            }

            if (parse.GetValue(trace) is { } t)
            {
                query += "&trace_id=" + Uri.EscapeDataString(t);
            }

            return FetchAsync(parse.GetValue(server2)!, query, ct);
        });

        command.Subcommands.Add(get);
        command.Subcommands.Add(list);
        return command;
    }

    /// <summary>GETs a path and prints the JSON; exit 0 on success, 1 on a 4xx/5xx (the problem is printed), 2 when unreachable.</summary>
    internal static async Task<int> FetchAsync(string server, string path, CancellationToken cancellationToken)
    {
        using var client = ServerOption.Client(server);
        HttpResponseMessage response;
        try
        {
            response = await client.GetAsync(path, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await Console.Error.WriteLineAsync($"detektor: cannot reach {server}: {ex.Message}");
            return 2;
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var text = body;
            try
            {
                using var doc = JsonDocument.Parse(body);
                text = JsonSerializer.Serialize(doc.RootElement, Pretty);
            }
            catch (JsonException)
            {
            }

            if (response.IsSuccessStatusCode)
            {
                await Console.Out.WriteLineAsync(text);
                return 0;
            }

            await Console.Error.WriteLineAsync($"detektor: {(int)response.StatusCode} {response.StatusCode}{(response.StatusCode == HttpStatusCode.NotFound ? " (not found)" : string.Empty)}");
            await Console.Error.WriteLineAsync(text);
            return 1;
        }
    }
}
