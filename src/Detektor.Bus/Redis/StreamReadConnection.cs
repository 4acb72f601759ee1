using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;

namespace Detektor.Bus.Redis;

/// <summary>One stream entry of an <c>XREADGROUP</c> reply: the stream key, the entry id, its fields (null: deleted while pending).</summary>
internal readonly record struct StreamReadEntry(string Key, string Id, NameValueEntry[]? Fields);

/// <summary>A connection of one subscription's own for its blocking <c>XREADGROUP</c>.</summary>
internal interface IStreamReadConnection : IAsyncDisposable
{
    /// <summary>
    /// <c>XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS keys… &gt;…</c>, handing each entry to <paramref name="onEntry"/>
    /// as it is read; returns how many. An entry's field values may point into pooled arrays that are reused once
    /// <paramref name="onEntry"/> returns: decode them there and keep none. Failures are StackExchange.Redis's exceptions
    /// (connection, timeout, server error), so callers tell transient ones apart as for every other call; after one the
    /// caller does not use the connection again.
    /// </summary>
    Task<int> ReadGroupAsync(string group, string consumer, int count, int blockMs, IReadOnlyList<string> keys, Func<StreamReadEntry, Task> onEntry);

    /// <summary>True once the connection must not be used again (a failure left it mid-reply, or it was disposed).</summary>
    bool IsBroken { get; }
}

/// <summary>The reader over a StackExchange.Redis connection of its own: every field value arrives as a new array.</summary>
internal sealed class MultiplexerStreamReadConnection(ConnectionMultiplexer connection) : IStreamReadConnection
{
    /// <summary>Never: the multiplexer reconnects by itself.</summary>
    public bool IsBroken => false;

    public async Task<int> ReadGroupAsync(string group, string consumer, int count, int blockMs, IReadOnlyList<string> keys, Func<StreamReadEntry, Task> onEntry)
    {
        var args = new List<object>(8 + (2 * keys.Count)) { "GROUP", group, consumer, "COUNT", count, "BLOCK", blockMs, "STREAMS" };
        args.AddRange(keys);
        args.AddRange(keys.Select(_ => (object)">"));
        var reply = await connection.GetDatabase().ExecuteAsync("XREADGROUP", args);
        if (reply.IsNull || reply.Resp2Type != ResultType.Array)
        {
            return 0;
        }

        var read = 0;
        foreach (var streamReply in (RedisResult[])reply!)
        {
            var pair = (RedisResult[])streamReply!;
            var key = (string)pair[0]!;
            foreach (var entry in (RedisResult[])pair[1]!)
            {
                var parts = (RedisResult[])entry!;
                await onEntry(new StreamReadEntry(key, (string)parts[0]!, parts[1].IsNull ? null : ToFields(parts[1])));
                read++;
            }
        }

        return read;
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();

    /// <summary>A flat name, value, name, value… reply as entry fields.</summary>
    internal static NameValueEntry[] ToFields(RedisResult reply)
    {
        var flat = (RedisResult[])reply!;
        var fields = new NameValueEntry[flat.Length / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new NameValueEntry((RedisValue)flat[2 * i], (RedisValue)flat[(2 * i) + 1]);
        }

        return fields;
    }
}

/// <summary>
/// The reader over a plain TCP socket speaking RESP2 itself, for the one command it sends. StackExchange.Redis hands
/// every bulk string over as a new array: a 100 KiB frame's pixels became a large-object-heap array (two, with the
/// client's own buffers) for every frame read, and faulting those pages in was a third of the read's CPU. Here a large
/// value is read from the socket straight into a pooled array that the reply returns when the caller is done with it.
/// Used when the configuration is one endpoint without TLS (the usual deployment); otherwise the multiplexer reader.
/// </summary>
internal sealed class RespStreamReadConnection : IStreamReadConnection
{
    /// <summary>Values from this size on are read into pooled arrays; smaller ones are plain arrays.</summary>
    internal const int PooledFrom = 4096;

    /// <summary>Redis's own limit on a bulk string (<c>proto-max-bulk-len</c>, 512 MB by default).</summary>
    private const int MaxBulk = 512 * 1024 * 1024;

    /// <summary>More elements than any reply to a read of at most this many entries can hold.</summary>
    private const int MaxArray = 1 << 20;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly string _endpoint;
    private readonly int _replyTimeoutMs;
    private readonly byte[] _buffer = new byte[64 * 1024];

    /// <summary>Field names seen so far (a handful): the same name is one array, not one per entry.</summary>
    private readonly List<byte[]> _names = [];
    private int _start;
    private int _end;
    private bool _broken;

    private RespStreamReadConnection(Socket socket, string endpoint, int replyTimeoutMs)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _endpoint = endpoint;
        _replyTimeoutMs = replyTimeoutMs;
    }

    /// <summary>
    /// True when this reader can serve <paramref name="config"/>: one endpoint, no TLS, no proxy, Sentinel or tunnel, and
    /// no renamed or disabled commands (<c>$XREADGROUP=…</c>). Call after <see cref="ConfigurationOptions.SetDefaultPorts"/>.
    /// </summary>
    public static bool Supports(ConfigurationOptions config) =>
        !config.Ssl && config.EndPoints.Count == 1 && config.Proxy == Proxy.None && string.IsNullOrEmpty(config.ServiceName) &&
        config.Tunnel is null && ReferenceEquals(config.CommandMap, CommandMap.Default);

    /// <summary>Connects, authenticates (<c>AUTH</c>), selects the database and names the client.</summary>
    public static async Task<RespStreamReadConnection> ConnectAsync(ConfigurationOptions config, string clientName, int connectTimeoutMs, int replyTimeoutMs)
    {
        var endPoint = config.EndPoints[0];
        var endpoint = RedisConnection.Format(endPoint);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = new CancellationTokenSource(connectTimeoutMs);
            await socket.ConnectAsync(endPoint, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            throw ConnectionFailure(ConnectionFailureType.UnableToConnect, $"Could not connect to {endpoint}: {ex.Message}", ex);
        }

        var connection = new RespStreamReadConnection(socket, endpoint, Math.Max(replyTimeoutMs, connectTimeoutMs));
        try
        {
            if (!string.IsNullOrEmpty(config.Password))
            {
                await connection.ExpectOkAsync(string.IsNullOrEmpty(config.User) ? ["AUTH", config.Password] : ["AUTH", config.User, config.Password], "AUTH");
            }

            if (config.DefaultDatabase is { } database and not 0)
            {
                await connection.ExpectOkAsync(["SELECT", database.ToString(CultureInfo.InvariantCulture)], "SELECT");
            }

            try
            {
                await connection.ExpectOkAsync(["CLIENT", "SETNAME", clientName], "CLIENT SETNAME");
            }
            catch (RedisServerException)
            {
                // Best effort, as for the client library: an ACL user without client|setname still reads.
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public bool IsBroken => _broken;

    public async Task<int> ReadGroupAsync(string group, string consumer, int count, int blockMs, IReadOnlyList<string> keys, Func<StreamReadEntry, Task> onEntry)
    {
        ObjectDisposedException.ThrowIf(_broken, this);
        var args = new List<string>(9 + (2 * keys.Count))
        {
            "XREADGROUP", "GROUP", group, consumer, "COUNT", count.ToString(CultureInfo.InvariantCulture),
            "BLOCK", blockMs.ToString(CultureInfo.InvariantCulture), "STREAMS",
        };
        args.AddRange(keys);
        args.AddRange(keys.Select(_ => ">"));
        var read = 0;
        var inReply = false;
        var rented = new List<byte[]>(2);
        var timeout = new CancellationTokenSource(blockMs + _replyTimeoutMs);
        try
        {
            await SendAsync(args, timeout.Token);
            var streams = await ReadArrayHeaderAsync(timeout.Token);
            inReply = true; // an error from here on is not a whole reply: the rest may still be on the socket
            for (var s = 0; s < streams; s++)
            {
                Expect(await ReadArrayHeaderAsync(timeout.Token), 2);
                var key = await ReadStringAsync(timeout.Token);
                var entries = await ReadArrayHeaderAsync(timeout.Token);
                for (var e = 0; e < entries; e++)
                {
                    Expect(await ReadArrayHeaderAsync(timeout.Token), 2);
                    var id = await ReadStringAsync(timeout.Token);
                    var flat = await ReadArrayHeaderAsync(timeout.Token);
                    NameValueEntry[]? fields = null;
                    if (flat >= 0)
                    {
                        fields = new NameValueEntry[flat / 2];
                        for (var f = 0; f < fields.Length; f++)
                        {
                            var name = await ReadNameAsync(timeout.Token);
                            fields[f] = new NameValueEntry(name, await ReadValueAsync(rented, timeout.Token));
                        }
                    }

                    try
                    {
                        await onEntry(new StreamReadEntry(key, id, fields));
                    }
                    catch (Exception ex)
                    {
                        _broken = true; // the rest of the reply is still on the socket
                        throw new CallbackFailedException(ex);
                    }

                    read++;

                    // One entry's large values at a time: the next entry reuses the same pooled arrays.
                    Return(rented);

                    // The rest of the reply is already on its way: it gets a reply timeout of its own, however long the
                    // caller took over this entry (decoding a batch of large JPEG frames may take seconds).
                    if (!timeout.TryReset())
                    {
                        timeout.Dispose();
                        timeout = new CancellationTokenSource();
                    }

                    timeout.CancelAfter(_replyTimeoutMs);
                }
            }

            return read;
        }
        catch (CallbackFailedException ex)
        {
            // The caller's own failure, as it was.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerException!);
            throw;
        }
        catch (Exception ex)
        {
            _broken |= inReply;
            throw Fail(ex, "XREADGROUP");
        }
        finally
        {
            timeout.Dispose();
            Return(rented);
        }

        static void Return(List<byte[]> rented)
        {
            foreach (var array in rented)
            {
                ArrayPool<byte>.Shared.Return(array);
            }

            rented.Clear();
        }
    }

    public ValueTask DisposeAsync()
    {
        _broken = true;
        return _stream.DisposeAsync();
    }

    private async Task ExpectOkAsync(IReadOnlyList<string> args, string command)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_replyTimeoutMs);
            await SendAsync(args, timeout.Token);
            var (type, line) = await ReadLineAsync(timeout.Token);
            if (type != (byte)'+')
            {
                throw ConnectionFailure(ConnectionFailureType.ProtocolFailure, $"Unexpected reply to {command} from {_endpoint}.", null);
            }

            _start += line;
        }
        catch (RedisServerException ex) when (command == "AUTH")
        {
            // Redis's words (WRONGPASS, NOAUTH …) never hold the password itself.
            throw ConnectionFailure(ConnectionFailureType.AuthenticationFailure, $"Redis at {_endpoint} refused the credentials: {ex.Message}", ex);
        }
        catch (Exception ex)
        {
            throw Fail(ex, command);
        }
    }

    /// <summary>
    /// The failure as the client library would have reported it. A server error is a whole reply, so the connection
    /// stays usable after one (NOGROUP: the caller creates the group and reads on); after anything else it is not.
    /// </summary>
    private Exception Fail(Exception ex, string command)
    {
        _broken |= ex is not RedisServerException;
        return ex switch
        {
            RedisServerException or RedisConnectionException or RedisTimeoutException => ex,
            OperationCanceledException => new RedisTimeoutException(CommandFlags.None, $"{command} to {_endpoint}: no reply in time.", CommandStatus.Sent),
            EndOfStreamException => ConnectionFailure(ConnectionFailureType.SocketClosed, $"{_endpoint} closed the connection during {command}.", ex),
            IOException or SocketException or ObjectDisposedException => ConnectionFailure(ConnectionFailureType.SocketFailure, $"{command} to {_endpoint}: {ex.Message}", ex),
            // Anything else came from parsing a reply that was not what RESP2 promises (a length out of range, say).
            _ => ConnectionFailure(ConnectionFailureType.ProtocolFailure, $"{command} to {_endpoint}: {ex.Message}", ex),
        };
    }

    private async Task SendAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var writer = new ArrayBufferWriter<byte>(256);
        WriteHeader(writer, (byte)'*', args.Count);
        foreach (var arg in args)
        {
            var length = Encoding.UTF8.GetByteCount(arg);
            WriteHeader(writer, (byte)'$', length);
            Encoding.UTF8.GetBytes(arg, writer.GetSpan(length + 2));
            writer.Advance(length);
            writer.Write("\r\n"u8);
        }

        await _stream.WriteAsync(writer.WrittenMemory, cancellationToken);

        static void WriteHeader(ArrayBufferWriter<byte> writer, byte type, int value)
        {
            var span = writer.GetSpan(16);
            span[0] = type;
            Utf8Formatter.TryFormat(value, span[1..], out var written);
            span[1 + written] = (byte)'\r';
            span[2 + written] = (byte)'\n';
            writer.Advance(3 + written);
        }
    }

    /// <summary>An array header's count (-1 for a nil array). A server error reply is thrown as <see cref="RedisServerException"/>.</summary>
    private async ValueTask<int> ReadArrayHeaderAsync(CancellationToken cancellationToken)
    {
        var (type, line) = await ReadLineAsync(cancellationToken);
        var count = type switch
        {
            (byte)'*' => ParseNumber(line),
            (byte)'$' when ParseNumber(line) == -1 => -1, // a nil bulk where a nil array may stand
            _ => throw new InvalidDataException($"expected an array, got '{(char)type}'"),
        };
        _start += line;
        if (count is < -1 or > MaxArray)
        {
            throw new InvalidDataException($"an array of {count} elements");
        }

        return count;
    }

    private async ValueTask<string> ReadStringAsync(CancellationToken cancellationToken)
    {
        var length = await ReadBulkHeaderAsync(cancellationToken);
        await FillAsync(length + 2, cancellationToken);
        var text = Encoding.UTF8.GetString(_buffer, _start, length);
        ConsumeCrlf(length);
        return text;
    }

    private async ValueTask<RedisValue> ReadNameAsync(CancellationToken cancellationToken)
    {
        var length = await ReadBulkHeaderAsync(cancellationToken);
        await FillAsync(length + 2, cancellationToken);
        var bytes = _buffer.AsSpan(_start, length);
        byte[]? name = null;
        foreach (var known in _names)
        {
            if (bytes.SequenceEqual(known))
            {
                name = known;
                break;
            }
        }

        if (name is null)
        {
            name = bytes.ToArray();
            if (_names.Count < 64)
            {
                _names.Add(name);
            }
        }

        ConsumeCrlf(length);
        return name;
    }

    private async ValueTask<RedisValue> ReadValueAsync(List<byte[]> rented, CancellationToken cancellationToken)
    {
        var length = await ReadBulkHeaderAsync(cancellationToken);
        if (length < PooledFrom)
        {
            await FillAsync(length + 2, cancellationToken);
            var small = _buffer.AsSpan(_start, length).ToArray();
            ConsumeCrlf(length);
            return small;
        }

        var array = ArrayPool<byte>.Shared.Rent(length);
        rented.Add(array);
        var buffered = Math.Min(length, _end - _start);
        _buffer.AsSpan(_start, buffered).CopyTo(array);
        _start += buffered;
        var filled = buffered;
        while (filled < length)
        {
            // The rest straight from the socket into the pooled array: no copy through the read buffer.
            var n = await _stream.ReadAsync(array.AsMemory(filled, length - filled), cancellationToken);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }

            filled += n;
        }

        await FillAsync(2, cancellationToken);
        ConsumeCrlf(0);
        return new ReadOnlyMemory<byte>(array, 0, length);
    }

    private async ValueTask<int> ReadBulkHeaderAsync(CancellationToken cancellationToken)
    {
        var (type, line) = await ReadLineAsync(cancellationToken);
        if (type != (byte)'$')
        {
            throw new InvalidDataException($"expected a bulk string, got '{(char)type}'");
        }

        var length = ParseNumber(line);
        _start += line;
        if (length < 0)
        {
            throw new InvalidDataException("a nil bulk string where a value was expected");
        }

        if (length > MaxBulk)
        {
            throw new InvalidDataException($"a bulk string of {length} bytes");
        }

        return length;
    }

    /// <summary>
    /// The type byte of the line at the read position and the line's length with its CRLF (not consumed: the caller parses
    /// the number from the buffer, then moves on). An error line (<c>-…</c>) is consumed and thrown.
    /// </summary>
    private async ValueTask<(byte Type, int Length)> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0 && (newline < 2 || _buffer[_start + newline - 1] != (byte)'\r'))
            {
                throw new InvalidDataException("a reply line without a type or not ended by CRLF");
            }

            if (newline >= 2)
            {
                var type = _buffer[_start];
                if (type == (byte)'-')
                {
                    var message = Encoding.UTF8.GetString(_buffer, _start + 1, newline - 2);
                    _start += newline + 1;
                    throw new RedisServerException(RedisErrorKind.None, CommandFlags.None, message);
                }

                return (type, newline + 1);
            }

            if (_end - _start >= _buffer.Length)
            {
                throw new InvalidDataException("a reply line longer than the read buffer");
            }

            await FillAsync(_end - _start + 1, cancellationToken);
        }
    }

    /// <summary>The number after the type byte of the line at the read position.</summary>
    private int ParseNumber(int lineLength)
    {
        if (!Utf8Parser.TryParse(_buffer.AsSpan(_start + 1, lineLength - 3), out int value, out var consumed) || consumed != lineLength - 3)
        {
            throw new InvalidDataException("a malformed length in the reply");
        }

        return value;
    }

    /// <summary>Moves past a value of <paramref name="length"/> bytes at the read position and the CRLF after it (buffered).</summary>
    private void ConsumeCrlf(int length)
    {
        if (_buffer[_start + length] != (byte)'\r' || _buffer[_start + length + 1] != (byte)'\n')
        {
            throw new InvalidDataException("a bulk string not ended by CRLF (its length is wrong)");
        }

        _start += length + 2;
    }

    private static void Expect(int actual, int expected)
    {
        if (actual != expected)
        {
            throw new InvalidDataException($"expected an array of {expected}, got {actual}");
        }
    }

    /// <summary>Reads until at least <paramref name="count"/> bytes are buffered from the read position.</summary>
    private async ValueTask FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_end - _start >= count)
        {
            return;
        }

        if (count > _buffer.Length)
        {
            throw new InvalidDataException("a reply element longer than the read buffer");
        }

        if (_start + count > _buffer.Length)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        while (_end - _start < count)
        {
            var n = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }

            _end += n;
        }
    }

    private sealed class CallbackFailedException(Exception inner) : Exception(null, inner);

    private static RedisConnectionException ConnectionFailure(ConnectionFailureType type, string message, Exception? inner) =>
        new(type, CommandFlags.None, message, inner, CommandStatus.Unknown);
}
