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
        var shared = new SettingsOptions();
        var command = new Command("run", "Run Detektor. With no options: every role in one process, embedded defaults, the demo camera.")
        {
            urls, roles, redis, cameras,
        };
        shared.AddTo(command);
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

            if (!shared.TryRead(parse, new RunSettings(), out var run, out var settingsError))
            {
                await Console.Error.WriteLineAsync($"detektor: {settingsError}");
                return 2;
            }

            run = run with
            {
                Urls = parse.GetValue(urls) ?? RunSettings.DefaultUrls,
                Roles = parsedRoles,
                Redis = parse.GetValue(redis),
                Cameras = cameraList,
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
            catch (Exception ex) when (DbCommand.IsStoreError(ex))
            {
                await Console.Error.WriteLineAsync($"detektor: event store: {Core.Security.SecretMasker.MaskSecrets(ex.Message)}");
                return 2;
            }

            var store = app.Services.GetService<Storage.Abstractions.IEventStore>();
            var events = store is null ? string.Empty : $", events in {store.Provider} at {store.Info.Location}";
            await Console.Out.WriteLineAsync($"Detektor is running at {string.Join(", ", app.Urls)} (data in {Path.GetFullPath(settings.DataDir)}{events}). Press Ctrl+C to stop.");
            await app.WaitForShutdownAsync(cancellationToken);
        }

        return 0;
    }
}
