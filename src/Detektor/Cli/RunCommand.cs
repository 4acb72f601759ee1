using System.CommandLine;
using Detektor.Composition;
using Microsoft.Extensions.Options;

namespace Detektor.Cli;

internal static class RunCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls")
        {
            Description = "Where the HTTP API listens (ASP.NET Core format, ';'-separated).",
            DefaultValueFactory = _ => RunSettings.DefaultUrls,
        };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Directory for all state (event store, models, snapshots).",
            DefaultValueFactory = _ => "data",
        };
        var roles = new Option<string>("--roles")
        {
            Description = "Roles of this process, comma-separated: capture, process, store, api (default: all). A subset needs --redis.",
            DefaultValueFactory = _ => "all",
        };
        var redis = new Option<string>("--redis")
        {
            Description = "Use Redis Streams as the bus, e.g. --redis 10.0.0.7:6379 (StackExchange.Redis syntax; sets Detektor:Bus:Transport=redis).",
        };
        var cameras = new Option<string[]>("--camera")
        {
            Description = "A camera as NAME=URL (repeatable), e.g. --camera front=rtsp://user:pass@10.0.0.5/stream1.",
            AllowMultipleArgumentsPerToken = false,
        };
        var config = new Option<string[]>("--config")
        {
            Description = "A JSON configuration file (repeatable); see docs/configuration.md.",
        };
        var set = new Option<string[]>("--set")
        {
            Description = "A configuration value as KEY=VALUE (repeatable), e.g. --set Detektor:Bus:FramesCapacity=128.",
        };

        var command = new Command("run", "Run Detektor. With no options: every role in one process, embedded defaults, the demo camera.")
        {
            urls, dataDir, roles, redis, cameras, config, set,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!RoleNames.TryParse(parse.GetValue(roles), out var parsedRoles, out var rolesError))
            {
                await Console.Error.WriteLineAsync($"detektor: {rolesError}");
                return 2;
            }

            var cameraList = new List<(string, string)>();
            foreach (var item in parse.GetValue(cameras) ?? [])
            {
                var eq = item.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || eq == item.Length - 1)
                {
                    await Console.Error.WriteLineAsync("detektor: --camera: expected NAME=URL, e.g. --camera front=rtsp://10.0.0.5/stream1.");
                    return 2;
                }

                cameraList.Add((item[..eq], item[(eq + 1)..]));
            }

            var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var item in parse.GetValue(set) ?? [])
            {
                var eq = item.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    await Console.Error.WriteLineAsync("detektor: --set: expected KEY=VALUE, e.g. --set Detektor:Bus:FramesCapacity=128.");
                    return 2;
                }

                settings[item[..eq]] = item[(eq + 1)..];
            }

            var run = new RunSettings
            {
                Urls = parse.GetValue(urls) ?? RunSettings.DefaultUrls,
                DataDir = parse.GetValue(dataDir) ?? "data",
                Roles = parsedRoles,
                Redis = parse.GetValue(redis),
                Cameras = cameraList,
                ConfigFiles = parse.GetValue(config) ?? [],
                Settings = settings,
            };
            return await RunAsync(run, cancellationToken);
        });
        return command;
    }

    public static async Task<int> RunAsync(RunSettings settings, CancellationToken cancellationToken)
    {
        WebApplication app;
        try
        {
            app = DetektorApp.Build(settings);
        }
        catch (Exception ex) when (ex is NotSupportedException or FileNotFoundException or InvalidDataException or FormatException)
        {
            await Console.Error.WriteLineAsync($"detektor: {ex.Message}");
            return 2;
        }

        await using (app)
        {
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (OptionsValidationException ex)
            {
                foreach (var failure in ex.Failures)
                {
                    await Console.Error.WriteLineAsync($"detektor: configuration error: {failure}");
                }

                return 2;
            }
            catch (InvalidOperationException ex) when (ex.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
            {
                await Console.Error.WriteLineAsync($"detektor: configuration error: {ex.Message}");
                return 2;
            }
            catch (IOException ex)
            {
                await Console.Error.WriteLineAsync($"detektor: cannot listen on {settings.Urls}: {ex.Message}");
                return 2;
            }

            await Console.Out.WriteLineAsync($"Detektor is running at {string.Join(", ", app.Urls)} (data in {Path.GetFullPath(settings.DataDir)}). Press Ctrl+C to stop.");
            await app.WaitForShutdownAsync(cancellationToken);
        }

        return 0;
    }
}
