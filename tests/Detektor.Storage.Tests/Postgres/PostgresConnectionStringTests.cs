using Detektor.Core.Security;
using Detektor.Storage.Postgres;

namespace Detektor.Storage.Tests.Postgres;

public sealed class PostgresConnectionStringTests
{
    [Fact]
    public void Parse_UriForm_ReadsEveryPart()
    {
        var sut = PostgresConnectionString.Parse("postgresql://det%40ektor:s3cr%3At@db.example:6543/events?sslmode=require");

        Assert.Equal(("db.example", 6543, "events", "det@ektor", "s3cr:t"), (sut.Host, sut.Port, sut.Database, sut.Username, sut.Password));
        Assert.Equal(Npgsql.SslMode.Require, sut.SslMode);
        Assert.Equal("detektor", sut.ApplicationName);
    }

    [Fact]
    public void Describe_AnyForm_NeverContainsThePassword()
    {
        var keyword = PostgresConnectionString.Describe("Host=db;Port=5433;Database=d;Username=u;Password=hunter2hunter2");
        var uri = PostgresConnectionString.Describe("postgres://u:hunter2hunter2@db/d");

        Assert.Equal("Host=db;Port=5433;Database=d;Username=u", keyword);
        Assert.DoesNotContain("hunter2", uri, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Host=db;Pasword=hunter2hunter2")]
    [InlineData("Database=d;Password=hunter2hunter2")]
    [InlineData("postgres://u:hunter2hunter2@:99999999/d")]
    public void Parse_Unreadable_ThrowsAMessageWithoutTheSecret(string text)
    {
        var error = Assert.Throws<FormatException>(() => PostgresConnectionString.Parse(text));

        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
        Assert.Contains("expected", error.Message, StringComparison.Ordinal);
        Assert.False(SecretMasker.ContainsSecret(error.Message));
    }
}
