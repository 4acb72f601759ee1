using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Detektor.Detection.Models;

/// <summary>What <c>detektor-model.json</c> records about an installed default model.</summary>
public sealed record InstalledManifest
{
    public required string Id { get; init; }

    public required string Package { get; init; }

    public required string Version { get; init; }

    /// <summary>SHA-256 of every kept file, the ONNX file included.</summary>
    public required Dictionary<string, string> Files { get; init; }

    public required string OnnxFile { get; init; }

    /// <summary>Version of the TF.js-to-ONNX conversion that wrote the ONNX file (converted models only).</summary>
    public int? ConverterVersion { get; init; }

    public DateTimeOffset InstalledAt { get; init; }
}

/// <summary>
/// The model cache under the data directory (<c>{data-dir}/models</c>): one folder per default model holding the files
/// kept from its package, the ONNX file and a manifest with their SHA-256. A model counts as installed only when every
/// file is there with the checksum the manifest and the catalog give.
/// </summary>
public sealed class ModelStore
{
    public const string ManifestFileName = "detektor-model.json";

    /// <summary>Bumped when the converter's output changes; an older converted model is converted again from its kept sources.</summary>
    public const int ConverterVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public ModelStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
    }

    public string Directory { get; }

    public string ModelDirectory(string id) => Path.Combine(Directory, id);

    public string OnnxPath(DefaultModel model) => Path.Combine(ModelDirectory(model.Id), model.OnnxFile);

    public string FilePath(DefaultModel model, string fileName) => Path.Combine(ModelDirectory(model.Id), fileName);

    /// <summary>The manifest of an installed model, or null when it is missing, incomplete or a checksum differs.</summary>
    public InstalledManifest? Verify(DefaultModel model)
    {
        var manifest = ReadManifest(model.Id);
        if (manifest is null || manifest.Version != model.Package.Version ||
            (model.Converted && manifest.ConverterVersion != ConverterVersion) || !SourcesPresent(model))
        {
            return null;
        }

        foreach (var (file, sha) in manifest.Files)
        {
            var path = FilePath(model, file);
            if (!File.Exists(path) || !string.Equals(Sha256File(path), sha, StringComparison.Ordinal))
            {
                return null;
            }
        }

        return manifest.Files.ContainsKey(model.OnnxFile) ? manifest : null;
    }

    /// <summary>True when every file the catalog names is in the model's folder with its pinned SHA-256.</summary>
    public bool SourcesPresent(DefaultModel model)
    {
        foreach (var file in model.Files)
        {
            var path = FilePath(model, file.FileName);
            if (!File.Exists(path) || !string.Equals(Sha256File(path), file.Sha256, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    public InstalledManifest? ReadManifest(string id)
    {
        var path = Path.Combine(ModelDirectory(id), ManifestFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<InstalledManifest>(File.ReadAllBytes(path), Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void WriteManifest(InstalledManifest manifest)
    {
        var dir = ModelDirectory(manifest.Id);
        System.IO.Directory.CreateDirectory(dir);
        WriteAtomically(Path.Combine(dir, ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, Json));
    }

    /// <summary>
    /// Writes a file through a temporary name of its own and a rename, so a reader never sees half a file and two
    /// processes pulling into one cache at once do not write into each other's file.
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.partial";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }

    public static string Sha256File(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));
}
