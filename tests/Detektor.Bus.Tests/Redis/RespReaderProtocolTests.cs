using System.Net.Sockets;
using System.Text;
using Detektor.Bus.Redis;
using Detektor.Testing;
using StackExchange.Redis;

namespace Detektor.Bus.Tests.Redis;

/// <summary>
/// The RESP reader against a scripted server: replies trickling in a byte at a time, values larger than its read buffer,
/// nil replies, server errors, and replies that break RESP2; and when the bus uses it at all.
/// </summary>
public sealed class RespReaderProtocolTests
{
    [Theory]
    [InlineData("127.0.0.1:6400", "auto", true)]
    [InlineData("localhost", "auto", true)] // no port: 6379, as the client library assumes
    [InlineData("127.0.0.1:6400,password=x,defaultDatabase=2", "auto", true)]
    [InlineData("127.0.0.1:6400", "client", false)]
    [InlineData("127.0.0.1:6400,ssl=true", "auto", false)]
    [InlineData("10.0.0.1:6379,10.0.0.2:6379", "auto", false)]
    [InlineData("127.0.0.1:6400,$XREADGROUP=XRG", "auto", false)]
    [InlineData("127.0.0.1:6400,proxy=twemproxy", "auto", false)]
    public void UsesOwnReader_ByConfiguration(string configuration, string readConnection, bool expected)
    {
        var options = new RedisBusOptions { Configuration = configuration, ReadConnection = readConnection };

        Assert.Equal(expected, RedisConnection.UsesOwnReader(options));
        var ports = RedisConnection.ReaderConfiguration(options).EndPoints.Select(e => e switch
        {
            System.Net.DnsEndPoint dns => dns.Port,
            System.Net.IPEndPoint ip => ip.Port,
            _ => -1,
        });
        Assert.All(ports, port => Assert.True(port is 6379 or 6400, $"port {port}"));
    }

    [Fact]
    public async Task ReadGroup_ReplyTrickledAByteAtATime_ParsesEveryEntryAndValue()
    {
        var big = new byte[70_000]; // more than the 64 KiB read buffer
        for (var i = 0; i < big.Length; i++)
        {
            big[i] = (byte)(i * 31 % 251);
        }

        var reply = Concat(
            "*1\r\n*2\r\n$9\r\ndk:frames\r\n*3\r\n",
            "*2\r\n$3\r\n1-1\r\n*4\r\n$4\r\nkind\r\n$5\r\nframe\r\n$6\r\npixels\r\n", Bulk(big),
            "*2\r\n$3\r\n1-2\r\n*-1\r\n", // deleted while pending
            "*2\r\n$3\r\n1-3\r\n*2\r\n$4\r\nkind\r\n$0\r\n\r\n");
        await using var server = new ScriptedRedis(reply, "*-1\r\n"u8.ToArray());
        await using var reader = await server.ConnectAsync();
        var seen = new List<(string Key, string Id, string Fields)>();

        var n = await reader.ReadGroupAsync("g", "c", 10, 100, ["dk:frames"], entry =>
        {
            var fields = entry.Fields is null ? "nil" : string.Join(",", entry.Fields.Select(f =>
                $"{f.Name}={(((ReadOnlyMemory<byte>)f.Value).Length > 100 ? (((ReadOnlyMemory<byte>)f.Value).Span.SequenceEqual(big) ? "big" : "corrupt") : (string?)f.Value)}"));
            seen.Add((entry.Key, entry.Id, fields));
            return Task.CompletedTask;
        });
        var none = await reader.ReadGroupAsync("g", "c", 10, 100, ["dk:frames"], _ => throw new InvalidOperationException("no entries expected"));

        Assert.Equal(3, n);
        Assert.Equal([("dk:frames", "1-1", "kind=frame,pixels=big"), ("dk:frames", "1-2", "nil"), ("dk:frames", "1-3", "kind=")], seen);
        Assert.Equal(0, none);
        Assert.False(reader.IsBroken);
        Assert.Contains("XREADGROUP GROUP g c COUNT 10 BLOCK 100 STREAMS dk:frames >", server.Commands);
        Assert.Contains("CLIENT SETNAME test-reader", server.Commands);
    }

    [Fact]
    public async Task ReadGroup_ServerErrorAsTheWholeReply_IsTheServersErrorAndTheConnectionStaysUsable()
    {
        await using var server = new ScriptedRedis("-NOGROUP No such key 'dk:frames' or consumer group 'g'\r\n"u8.ToArray(), "*-1\r\n"u8.ToArray());
        await using var reader = await server.ConnectAsync();

        var ex = await Assert.ThrowsAsync<RedisServerException>(() => reader.ReadGroupAsync("g", "c", 10, 100, ["dk:frames"], _ => Task.CompletedTask));

        Assert.True(RedisFrameBus.IsNoGroup(ex));
        Assert.False(reader.IsBroken);
        Assert.Equal(0, await reader.ReadGroupAsync("g", "c", 10, 100, ["dk:frames"], _ => Task.CompletedTask));
    }

    [Theory]
    [InlineData("*1\r\n*2\r\n$9\r\ndk:frames\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$4\r\nkind\r\n$9\r\nframe\r\n")] // a bulk length longer than its value
    [InlineData("*1\r\n*2\r\n$9\r\ndk:frames\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$4\r\nkind\r\n$-7\r\n")] // a negative length
    [InlineData("*1\n")] // no CR
    [InlineData(":5\r\n")] // an integer where an array belongs
    [InlineData("*1\r\n-ERR in the middle\r\n")] // an error nested in a reply
    public async Task ReadGroup_ReplyThatBreaksResp_TransientFailureAndTheConnectionIsNotUsedAgain(string reply)
    {
        await using var server = new ScriptedRedis(Encoding.ASCII.GetBytes(reply));
        await using var reader = await server.ConnectAsync();

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => reader.ReadGroupAsync("g", "c", 10, 100, ["dk:frames"], _ => Task.CompletedTask));

        Assert.True(RedisFrameBus.IsTransient(ex) || ex is RedisServerException, ex.ToString());
        Assert.True(reader.IsBroken);
    }

    [Fact]
    public async Task Connect_ServerRefusesClientSetName_StillReads()
    {
        await using var server = new ScriptedRedis("*-1\r\n"u8.ToArray()) { RefuseSetName = true };
        await using var reader = await server.ConnectAsync();

        Assert.Equal(0, await reader.ReadGroupAsync("g", "c", 10, 100, ["dk:frames"], _ => Task.CompletedTask));
    }

    [Fact]
    public async Task Connect_WrongPassword_AuthenticationFailureWithoutThePassword()
    {
        await using var server = new ScriptedRedis() { Password = "right" };

        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => server.ConnectAsync("wrong-s3cret"));

        Assert.Equal(ConnectionFailureType.AuthenticationFailure, ex.FailureType);
        Assert.DoesNotContain("wrong-s3cret", ex.ToString(), StringComparison.Ordinal);
    }

    private static byte[] Bulk(byte[] value) => [.. Encoding.ASCII.GetBytes($"${value.Length}\r\n"), .. value, .. "\r\n"u8];

    private static byte[] Concat(params object[] parts) =>
        [.. parts.SelectMany(p => p is string s ? Encoding.ASCII.GetBytes(s) : (byte[])p)];

    /// <summary>
    /// Answers AUTH, SELECT and CLIENT SETNAME, then each XREADGROUP with the next scripted reply, one byte per write.
    /// Records the commands it was sent (space-joined).
    /// </summary>
    private sealed class ScriptedRedis : LoopbackTcpServer
    {
        private readonly Queue<byte[]> _replies;

        public ScriptedRedis(params byte[][] replies)
        {
            _replies = new Queue<byte[]>(replies);
            StartAccepting();
        }

        public string? Password { get; init; }

        public bool RefuseSetName { get; init; }

        public System.Collections.Concurrent.ConcurrentQueue<string> Commands { get; } = new();

        public Task<RespStreamReadConnection> ConnectAsync(string? password = null)
        {
            var config = ConfigurationOptions.Parse($"127.0.0.1:{Port}");
            config.Password = password;
            return RespStreamReadConnection.ConnectAsync(config, "test-reader", 2000, 2000);
        }

        protected override async Task OnClientAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                var reader = new StreamReader(stream, Encoding.ASCII);
                try
                {
                    while (await ReadCommandAsync(reader) is { } command)
                    {
                        Commands.Enqueue(string.Join(' ', command));
                        byte[] answer = command[0] switch
                        {
                            "AUTH" when Password is not null && command[^1] != Password => "-WRONGPASS invalid username-password pair or user is disabled.\r\n"u8.ToArray(),
                            "CLIENT" when RefuseSetName => "-NOPERM this user has no permissions to run the 'client|setname' command\r\n"u8.ToArray(),
                            "XREADGROUP" => _replies.Count > 0 ? _replies.Dequeue() : "*-1\r\n"u8.ToArray(),
                            _ => "+OK\r\n"u8.ToArray(),
                        };
                        foreach (var b in answer)
                        {
                            await stream.WriteAsync(new[] { b }, Stopping);
                            await stream.FlushAsync(Stopping);
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
                {
                }
            }
        }

        /// <summary>One RESP array of bulk strings, as clients send commands; null at the end of the stream.</summary>
        private static async Task<string[]?> ReadCommandAsync(StreamReader reader)
        {
            var header = await reader.ReadLineAsync();
            if (header is null)
            {
                return null;
            }

            var parts = new string[int.Parse(header.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture)];
            for (var i = 0; i < parts.Length; i++)
            {
                await reader.ReadLineAsync(); // $length
                parts[i] = (await reader.ReadLineAsync())!;
            }

            return parts;
        }
    }
}
