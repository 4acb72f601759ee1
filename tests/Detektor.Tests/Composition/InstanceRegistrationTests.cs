using Detektor.Composition;

namespace Detektor.Tests.Composition;

public sealed class InstanceRegistrationTests
{
    [Theory]
    [InlineData(null, "http://127.0.0.1:8080", "http://127.0.0.1:8080")]
    [InlineData(null, "http://0.0.0.0:8080", "http://box-7:8080")]
    [InlineData(null, "http://[::]:9000", "http://box-7:9000")]
    [InlineData(null, "http://+:8080", "http://box-7:8080")]
    [InlineData(null, "http://*:8080", "http://box-7:8080")]
    [InlineData("http://10.1.2.3:8080/", "http://0.0.0.0:8080", "http://10.1.2.3:8080")]
    public void AdvertisedUrl_ConfiguredOrListening_IsReachableAddress(string? configured, string listening, string expected)
    {
        var sut = InstanceRegistrationService.AdvertisedUrl(configured, [listening], "box-7");

        Assert.Equal(expected, sut);
    }

    [Fact]
    public void AdvertisedUrl_HttpsAndHttp_PrefersHttp()
    {
        var sut = InstanceRegistrationService.AdvertisedUrl(null, ["https://127.0.0.1:8443", "http://127.0.0.1:8080"], "box-7");

        Assert.Equal("http://127.0.0.1:8080", sut);
    }
}
