using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Detektor.Testing;

/// <summary>
/// A throwaway PostgreSQL cluster on loopback: <c>initdb</c> into a temp directory, <c>pg_ctl start</c> on a free port
/// with the Unix socket in that directory, stopped and deleted on dispose. PostgreSQL refuses to run as root, so when the
/// tests run as root the server runs as the <c>postgres</c> OS user (<c>runuser</c>) in a directory it owns.
/// Skips (or fails, with <c>DETEKTOR_REQUIRE_TOOLS=1</c>) when the binaries are absent. Binaries: <c>DETEKTOR_PG_BIN</c>,
/// else /usr/lib/postgresql/15/bin. Connections use a password (scram-sha-256) so tests can check it never leaks.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string DefaultBinDirectory = "/usr/lib/postgresql/15/bin";
    public const string User = "postgres";

    private readonly string _bin;
    private readonly string _root;
    private readonly bool _durable;
    private int _databases;

    private PostgresServer(string bin, string root, int port, string password, bool durable)
    {
        _bin = bin;
        _root = root;
        Port = port;
        Password = password;
        _durable = durable;
    }

    public int Port { get; private set; }

    /// <summary>The password of <see cref="User"/>; a secret that must never show in logs, health output or errors.</summary>
    public string Password { get; }

    public string DataDirectory => Path.Combine(_root, "data");

    public bool IsRunning { get; private set; }

    public static string BinDirectory => Environment.GetEnvironmentVariable("DETEKTOR_PG_BIN") is { Length: > 0 } bin ? bin : DefaultBinDirectory;

    /// <summary>
    /// Starts a cluster. <paramref name="durable"/> false (tests) turns fsync off for speed; true (benchmarks) keeps
    /// PostgreSQL's defaults so the numbers mean something.
    /// </summary>
    public static async Task<PostgresServer> StartAsync(bool durable = false, CancellationToken cancellationToken = default)
    {
        var bin = Path.GetDirectoryName(RequiredTool.Find(Path.Combine(BinDirectory, "pg_ctl")))!;
        RequiredTool.Find(Path.Combine(bin, "initdb"));
        var root = Path.Combine(Path.GetTempPath(), "detektor-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var server = new PostgresServer(bin, root, FreePort.Next(), password, durable);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(root, "pwfile"), password + "\n", cancellationToken);
            if (Environment.IsPrivilegedProcess)
            {
                await RunAsync("chown", ["-R", User, root], asPostgres: false, cancellationToken);
            }

            await server.RunToolAsync(
                "initdb",
                ["-D", server.DataDirectory, "-U", User, "--pwfile", Path.Combine(root, "pwfile"), "--auth-host=scram-sha-256", "--auth-local=trust",
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                cancellationToken);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await server.RestartAsync(cancellationToken);
                    return server;
                }
                catch (InvalidOperationException) when (attempt < 3 && server.LogTail().Contains("Address already in use", StringComparison.Ordinal))
                {
                    // FreePort's port was taken by another test's server before PostgreSQL bound it: take another.
                    server.Port = FreePort.Next();
                }
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connection string for <paramref name="database"/> over TCP on loopback, with the password.</summary>
    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = User,
        Password = Password,
        Database = database,
        Timeout = 5,
        Pooling = true,
    }.ConnectionString;

    /// <summary>Creates a fresh, empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "t", CancellationToken cancellationToken = default)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{prefix}_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid().ToString("N")[..8]}");
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return ConnectionString(name);
    }

    /// <summary>Runs one SQL statement on <paramref name="connectionString"/> and returns the first column of the first row.</summary>
    public static async Task<object?> ScalarAsync(string connectionString, string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DBNull ? null : value;
    }

    /// <summary><c>pg_ctl start</c> (again, after <see cref="StopAsync"/>): same port, same data.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        var settings = string.Create(
            CultureInfo.InvariantCulture,
            $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c max_connections=200 {(_durable ? string.Empty : "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")}");
        try
        {
            await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-o", settings, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "start"], cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            // pg_ctl only says "Examine the log output": put the log's last lines in the failure.
            throw new InvalidOperationException(ex.Message + Environment.NewLine + "server.log:" + Environment.NewLine + LogTail(), ex);
        }

        IsRunning = true;
    }

    /// <summary>The last lines of the server's log (empty when there is none).</summary>
    private string LogTail()
    {
        var log = Path.Combine(_root, "server.log");
        return File.Exists(log) ? string.Join(Environment.NewLine, File.ReadLines(log).TakeLast(15)) : string.Empty;
    }

    /// <summary><c>pg_ctl stop -m fast</c>: connections are cut, the port closes; data stays for <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"], cancellationToken);
        IsRunning = false;
    }

    /// <summary>The server's log (for failure messages).</summary>
    public string ReadLog()
    {
        try
        {
            return File.ReadAllText(Path.Combine(_root, "server.log"));
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (IsRunning || File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try
            {
                await RunToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"], CancellationToken.None);
            }
            catch (InvalidOperationException)
            {
            }

            IsRunning = false;
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private Task RunToolAsync(string tool, IReadOnlyList<string> args, CancellationToken cancellationToken) =>
        RunAsync(Path.Combine(_bin, tool), args, asPostgres: Environment.IsPrivilegedProcess, cancellationToken);

    private static async Task RunAsync(string program, IReadOnlyList<string> args, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo
        {
            FileName = asPostgres ? "runuser" : program,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", User, "--", program })
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{Path.GetFileName(program)} {string.Join(' ', args)} exited with {process.ExitCode}: {await stdout}{await stderr}");
        }
    }
}
