using System.Diagnostics;
using System.Text.RegularExpressions;
using Detektor.Web.Security;

namespace Detektor.Web.Tests.Security;

/// <summary><c>detektor security hash-key|hash-password</c>, run as the real program (detektor.dll beside the tests).</summary>
public sealed partial class SecurityCommandTests
{
    [Fact]
    public async Task HashKey_GivenKey_PrintsItsSha256Hash()
    {
        var (code, output, _) = await RunAsync(null, "security", "hash-key", "dk_my-existing-key");
        Assert.Equal(0, code);
        Assert.Equal($"hash: {CredentialHashing.HashApiKey("dk_my-existing-key")}", output.Trim());
    }

    [Fact]
    public async Task HashKey_NoKey_PrintsNewKeyAndTheHashOfIt()
    {
        var (code, output, _) = await RunAsync(null, "security", "hash-key");
        var match = KeyAndHash().Match(output);

        Assert.Equal(0, code);
        Assert.True(match.Success, output);
        Assert.Equal(CredentialHashing.HashApiKey(match.Groups[1].Value), match.Groups[2].Value);
    }

    [Fact]
    public async Task HashPassword_FromStdin_PrintsAVerifiableHash()
    {
        var (code, output, _) = await RunAsync("correct horse\n", "security", "hash-password", "--iterations", "2000");
        var hash = output.Trim();

        Assert.Equal(0, code);
        Assert.StartsWith("pbkdf2-sha256:2000:", hash, StringComparison.Ordinal);
        Assert.True(CredentialHashing.VerifyPassword("correct horse", hash));
        Assert.DoesNotContain("correct horse", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HashPassword_EmptyStdin_Exit2()
    {
        var (code, _, error) = await RunAsync(string.Empty, "security", "hash-password");
        Assert.Equal(2, code);
        Assert.Contains("give the password on standard input", error, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(string? stdin, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "detektor.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    [GeneratedRegex(@"key:\s+(dk_[A-Za-z0-9_-]{43})\s.*\nhash: (sha256:[0-9a-f]{64})")]
    private static partial Regex KeyAndHash();
}
