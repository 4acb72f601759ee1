using Detektor.Processing.Processors;

namespace Detektor.Processing.Tests.Processors;

public class SampleProcessorTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(1000)]
    [InlineData(640 * 480 * 3)]
    public void MeanByte_MatchesScalarMean(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);

        var expected = data.Select(b => (double)b).Average();

        Assert.Equal(expected, SampleProcessor.MeanByte(data), 9);
    }

    [Fact]
    public void MeanByte_AllWhite_Is255()
    {
        Assert.Equal(255, SampleProcessor.MeanByte(Enumerable.Repeat((byte)255, 4096).ToArray()));
    }
}
