using System.Diagnostics;
using Detektor.Testing;

namespace Detektor.Tests.Cli;

public class TemplateTests
{
    [Fact]
    public async Task ProcessorTemplate_InstallCreateBuild_Succeeds()
    {
        var repo = RepoRoot();
        using var work = new TempDirectory("detektor-template");
        var hive = work.Combine("hive");

        var install = await DotnetAsync(work.Path, "new", "install", Path.Combine(repo, "templates", "detektor-processor"), "--debug:custom-hive", hive);
        var create = await DotnetAsync(work.Path, "new", "detektor-processor", "-n", "Acme.Plates", "-o", work.Combine("Acme.Plates"),
            "--DetektorRoot", repo, "--ProcessorName", "plates", "--debug:custom-hive", hive);
        var build = await DotnetAsync(work.Combine("Acme.Plates"), "build", "-nologo", "-v", "quiet");

        Assert.True(install.Code == 0, install.Output);
        Assert.True(create.Code == 0, create.Output);
        Assert.True(build.Code == 0, build.Output);
        var processor = await File.ReadAllTextAsync(work.Combine("Acme.Plates", "Processor.cs"), TestContext.Current.CancellationToken);
        Assert.Contains("namespace Acme.Plates;", processor, StringComparison.Ordinal);
        Assert.Contains("public override string Name => \"plates\";", processor, StringComparison.Ordinal);
        Assert.True(File.Exists(work.Combine("Acme.Plates", "bin", "Debug", "net10.0", "Acme.Plates.dll")));
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Detektor.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Repository root not found.");
    }

    private static async Task<(int Code, string Output)> DotnetAsync(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, $"dotnet {string.Join(' ', args)} → {process.ExitCode}\n{await stdout}\n{await stderr}");
    }
}
