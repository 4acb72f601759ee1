using System.ComponentModel.DataAnnotations;
using Detektor.Core.Configuration;

namespace Detektor.Core.Tests.Configuration;

public class KeyedOptionsValidationTests
{
    private sealed class SampleOptions
    {
        [Range(1, 10)]
        public int Count { get; set; } = 5;

        [Required]
        [RegularExpression("^[a-z]+$")]
        public string? Name { get; set; } = "ok";
    }

    [Fact]
    public void Validate_OutOfRange_NamesFullKeyAndAllowedRange()
    {
        var sut = new KeyedDataAnnotationsValidator<SampleOptions>("Detektor:Sample");

        var result = sut.Validate(null, new SampleOptions { Count = 0, Name = "Bad Name" });

        Assert.True(result.Failed);
        Assert.Contains("Detektor:Sample:Count: 0 is out of range; allowed 1 to 10.", result.Failures!);
        Assert.Contains(result.Failures!, f => f.StartsWith("Detektor:Sample:Name: 'Bad Name' is not allowed", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_Valid_Succeeds()
    {
        var sut = new KeyedDataAnnotationsValidator<SampleOptions>("Detektor:Sample");

        Assert.True(sut.Validate(null, new SampleOptions()).Succeeded);
    }
}
