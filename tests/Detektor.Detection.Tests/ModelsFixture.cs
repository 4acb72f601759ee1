using Detektor.Detection.Models;
using Detektor.Testing;

[assembly: AssemblyFixture(typeof(Detektor.Detection.Tests.ModelsFixture))]

namespace Detektor.Detection.Tests;

/// <summary>
/// Pulls the default models once per test run, through the product's own pull code, into a shared cache: env
/// <c>DETEKTOR_MODELS</c>, else <c>&lt;repo&gt;/.cache/models</c>. A second run finds them verified and downloads nothing.
/// When the registry cannot be reached, tests that need a model skip (or fail when DETEKTOR_REQUIRE_TOOLS=1, as in CI).
/// </summary>
public sealed class ModelsFixture : IAsyncLifetime
{
    private string? _error;

    public string Directory { get; } = ResolveDirectory();

    public ModelStore Store => new(Directory);

    public static string ResolveDirectory() => Repository.Cache("DETEKTOR_MODELS", "models");

    public async ValueTask InitializeAsync()
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
            var puller = new ModelPuller(http, Store);
            await puller.PullAsync(ModelCatalog.Defaults, progress: null, force: false, CancellationToken.None);
        }
        catch (ModelPullException ex)
        {
            _error = ex.Message;
        }
    }

    /// <summary>The ONNX path of a default model; skips (or fails in CI) when it could not be pulled.</summary>
    public string OnnxPath(DefaultModel model) =>
        RequiredTool.RequireFile(_error is null ? Store.OnnxPath(model) : Path.Combine(Directory, "pull-failed"), $"the models could not be pulled ({_error ?? "missing"})");

    public string SourcePath(DefaultModel model, string fileName) =>
        RequiredTool.RequireFile(Store.FilePath(model, fileName), $"the models could not be pulled ({_error ?? "missing"})");

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
