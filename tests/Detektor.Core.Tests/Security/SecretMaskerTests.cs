using Detektor.Core.Security;

namespace Detektor.Core.Tests.Security;

public class SecretMaskerTests
{
    [Theory]
    [InlineData("rtsp://admin:S3cr3t!@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1")]
    [InlineData("Connection to rtsp://u:p4ss@cam/x failed", "Connection to rtsp://u:***@cam/x failed")]
    [InlineData("http://cam/mjpeg?user=a&password=hunter2&fps=5", "http://cam/mjpeg?user=a&password=***&fps=5")]
    [InlineData("https://cam/live.m3u8?token=abc.def-123", "https://cam/live.m3u8?token=***")]
    [InlineData("api_key=XYZ and apikey=QQ", "api_key=*** and apikey=***")]
    [InlineData("redis://:r3dis@host:6379", "redis://:***@host:6379")]
    [InlineData("postgresql://det:pg-pass@db/detektor", "postgresql://det:***@db/detektor")]
    public void MaskSecrets_HidesPasswordsAndTokens(string input, string expected)
    {
        Assert.Equal(expected, SecretMasker.MaskSecrets(input));
    }

    [Theory]
    [InlineData("rtsp://10.0.0.5/stream1")]
    [InlineData("rtsp://viewer@10.0.0.5/stream1")]
    [InlineData("plain text with no secrets, time 10:30")]
    public void MaskSecrets_NothingSecret_Unchanged(string input)
    {
        Assert.Equal(input, SecretMasker.MaskSecrets(input));
    }

    [Fact]
    public void MaskSecrets_AppliedTwice_IsStable()
    {
        var once = SecretMasker.MaskSecrets("rtsp://a:b@c/d?token=e");

        Assert.Equal(once, SecretMasker.MaskSecrets(once));
        Assert.DoesNotContain("token=e", once, StringComparison.Ordinal);
    }
}
