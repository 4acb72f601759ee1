using System.Text.Json;
using Detektor.Bus.Redis;
using Detektor.Core.Messages;

namespace Detektor.Bus.Tests.Redis;

public sealed class TrackEventWireTests
{
    private static readonly JsonSerializerOptions Options = new() { Converters = { new TrackEventTypeJsonConverter() } };

    [Theory]
    [InlineData(TrackEventType.Entered, "\"entered\"")]
    [InlineData(TrackEventType.Updated, "\"updated\"")]
    [InlineData(TrackEventType.Left, "\"left\"")]
    public void Write_EachType_IsItsWireName(TrackEventType type, string expected)
    {
        var sut = JsonSerializer.Serialize(type, Options);

        Assert.Equal(expected, sut);
    }

    [Theory]
    [InlineData("\"left\"", TrackEventType.Left)]
    [InlineData("0", TrackEventType.Entered)]
    [InlineData("2", TrackEventType.Left)]
    public void Read_NameOrNumberWrittenBeforeTheConverter_IsTheType(string json, TrackEventType expected)
    {
        var sut = JsonSerializer.Deserialize<TrackEventType>(json, Options);

        Assert.Equal(expected, sut);
    }

    [Fact]
    public void Read_UnknownName_Throws()
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TrackEventType>("\"vanished\"", Options));
    }
}
