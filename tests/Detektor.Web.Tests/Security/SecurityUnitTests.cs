using Detektor.Web.Security;

namespace Detektor.Web.Tests.Security;

public sealed class SecurityUnitTests
{
    [Theory]
    [InlineData("http://127.0.0.1:8080", true)]
    [InlineData("http://127.0.0.2:8080", true)]
    [InlineData("http://[::1]:8080", true)]
    [InlineData("http://localhost:8080", true)]
    [InlineData("http://0.0.0.0:8080", false)]
    [InlineData("http://[::]:8080", false)]
    [InlineData("http://*:8080", false)]
    [InlineData("http://+:8080", false)]
    [InlineData("http://192.168.1.10:8080", false)]
    [InlineData("http://detektor.lan:8080", false)]
    public void IsLoopback_Address_Classified(string address, bool expected) => Assert.Equal(expected, BindScope.IsLoopback(address));

    [Fact]
    public void IsLoopbackOnly_MixedOrEmpty_False()
    {
        Assert.True(BindScope.IsLoopbackOnly(["http://127.0.0.1:1", "http://[::1]:1"]));
        Assert.False(BindScope.IsLoopbackOnly(["http://127.0.0.1:1", "http://0.0.0.0:1"]));
        Assert.False(BindScope.IsLoopbackOnly([]));
    }

    [Fact]
    public void HashApiKey_NewKey_ParsesAndDiffersFromKey()
    {
        var key = CredentialHashing.NewApiKey();
        var sut = CredentialHashing.HashApiKey(key);
        Assert.StartsWith("dk_", key, StringComparison.Ordinal);
        Assert.Equal(46, key.Length);
        Assert.DoesNotContain(key, sut, StringComparison.Ordinal);
        Assert.True(CredentialHashing.TryParseKeyHash(sut, out var hash));
        Assert.Equal(CredentialHashing.KeyDigest(key), hash);
        Assert.NotEqual(key, CredentialHashing.NewApiKey());
    }

    [Fact]
    public void VerifyPassword_RightAndWrong_Distinguished()
    {
        var sut = CredentialHashing.HashPassword("s3cret!", iterations: 1000);
        Assert.StartsWith("pbkdf2-sha256:1000:", sut, StringComparison.Ordinal);
        Assert.True(CredentialHashing.VerifyPassword("s3cret!", sut));
        Assert.False(CredentialHashing.VerifyPassword("s3cret", sut));
        Assert.False(CredentialHashing.VerifyPassword("s3cret!", "s3cret!"));
        Assert.NotEqual(sut, CredentialHashing.HashPassword("s3cret!", iterations: 1000)); // salted
    }

    [Fact]
    public void Validate_PlainSecretsAndBadPaths_OneLinePerProblemNamingTheKey()
    {
        var sut = new SecurityOptionsValidator();
        var options = new SecurityOptions
        {
            ApiKeys = [new ApiKeyOptions { Name = "ci", Hash = "dk_plainkey" }, new ApiKeyOptions { Name = "ci", Hash = CredentialHashing.HashApiKey("k") }],
            Users = [new UserOptions { Name = "admin", PasswordHash = "hunter2" }],
            OpenPaths = ["/api/v1/frames", "metrics"],
        };

        var result = sut.Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith("Detektor:Security:ApiKeys:0:Hash: must be 'sha256:'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Detektor:Security:ApiKeys:1:Name: 'ci' is used by another key", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Detektor:Security:Users:0:PasswordHash:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Detektor:Security:OpenPaths:0: '/api/v1/frames' is not allowed", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Detektor:Security:OpenPaths:1: 'metrics' is not allowed", StringComparison.Ordinal));
        Assert.Equal(5, failures.Count);
        Assert.DoesNotContain(failures, f => f.Contains("hunter2", StringComparison.Ordinal) || f.Contains("dk_plainkey", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/system", true)]
    [InlineData("/", true)]
    [InlineData("//evil.example", false)]
    [InlineData("/\\evil.example", false)]
    [InlineData("https://evil.example/", false)]
    [InlineData("", false)]
    public void IsLocal_ReturnUrl_OnlySitePaths(string url, bool expected) => Assert.Equal(expected, LoginEndpoints.IsLocal(url));
}
