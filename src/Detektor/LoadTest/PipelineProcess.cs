using Detektor.Core.Telemetry;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Detektor.LoadTest;

/// <summary>
/// One <c>detektor run</c> child of a load test (the same program as the tool), on a loopback port of its own, its
/// output in a log file. Its CPU time and memory are read from <c>/proc/{pid}/stat</c> and <c>/proc/{pid}/status</c>;
/// the ffmpeg processes it starts are counted as its children. When it exits by itself during the run it is started
/// again and the restart counted.
/// </summary>
public sealed class PipelineProcess : IAsyncDisposable
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux
    private readonly ProcessStartInfo _start;
    private readonly string _logPath;
    private readonly Dictionary<int, double> _childCpu = [];
    private Process _process;
    private readonly StreamWriter _log;
    private double _cpuOfEarlierRuns;
    private double _childCpuOfEarlierRuns;
    private long _peakRssOfEarlierRuns;
    private double _lastCpu;
    private long _lastHwm;

    private PipelineProcess(string name, string roles, ProcessStartInfo start, string logPath, int port)
    {
        Name = name;
        Roles = roles;
        _start = start;
        _logPath = logPath;
        Port = port;
        Http = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null })
        {
            BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/")),
            Timeout = TimeSpan.FromSeconds(10),
        };
        _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        _process = Launch();
    }

    public string Name { get; }

    public string Roles { get; }

    public int Port { get; }

    public HttpClient Http { get; }

    public int ProcessId => _process.Id;

    public int Restarts { get; private set; }

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public bool Stopping { get; private set; }

    /// <summary>Memory when the warm-up ended.</summary>
    public ProcessMemory? MemoryAfterWarmup { get; set; }

    /// <summary>GC heap bytes allocated when the warm-up ended.</summary>
    public double? AllocatedAfterWarmup { get; set; }

    /// <summary>Bytes allocated per captured frame (all cameras) while measuring.</summary>
    public double? AllocatedBytesPerFrame { get; set; }

    /// <summary>Memory when the measured time ended, before stopping.</summary>
    public ProcessMemory? MemoryAtEnd { get; set; }

    /// <summary>Last memory seen while running.</summary>
    public ProcessMemory MemoryLast { get; private set; }

    /// <summary>The command that runs the program itself: the apphost, or <c>dotnet detektor.dll</c>.</summary>
    public static (string FileName, string[] Prefix) SelfCommand()
    {
        var path = Environment.ProcessPath ?? "dotnet";
        var dll = typeof(PipelineProcess).Assembly.Location;
        return Path.GetFileNameWithoutExtension(path) == "dotnet" ? (path, [dll]) : (path, []);
    }

    /// <summary>Starts <c>detektor run --urls … {arguments}</c> in <paramref name="workDirectory"/>.</summary>
    public static PipelineProcess Start(string name, string roles, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string workDirectory)
    {
        Directory.CreateDirectory(workDirectory);
        var port = FreePort();
        var (file, prefix) = SelfCommand();
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var arg in prefix.Concat(["run", "--urls", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}")]).Concat(arguments))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return new PipelineProcess(name, roles, start, Path.Combine(workDirectory, name + ".log"), port);
    }

    /// <summary>The last lines of the child's output (for error messages).</summary>
    public string Tail(int lines = 20)
    {
        try
        {
            using var stream = new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return string.Join(Environment.NewLine, all.TakeLast(lines).Select(l => $"  {Name}: {l}"));
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    /// <summary>Waits until <c>/ready</c> answers 200; false when the process exits or the time is up.</summary>
    public async Task<bool> WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        while (!cts.IsCancellationRequested)
        {
            if (_process.HasExited)
            {
                return false;
            }

            try
            {
                using var response = await Http.GetAsync("ready", cts.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            try
            {
                await Task.Delay(250, cts.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return false;
    }

    /// <summary>Starts the child again when it has exited by itself; true when it did (a restart).</summary>
    public bool RestartIfExited()
    {
        if (Stopping || !_process.HasExited)
        {
            return false;
        }

        _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"--- detektor loadtest: {Name} exited with {_process.ExitCode}; starting it again ---"));
        var sample = Sample();
        _cpuOfEarlierRuns = sample.CpuSeconds;
        _childCpuOfEarlierRuns = sample.ChildCpuSeconds;
        _peakRssOfEarlierRuns = sample.PeakRssBytes;
        _childCpu.Clear();
        _process.Dispose();
        _process = Launch();
        Restarts++;
        return true;
    }

    /// <summary>Reads CPU time and memory now. Values of an exited process stay at what was last seen.</summary>
    public ProcessSample Sample()
    {
        var pid = _process.Id;
        var cpu = ReadCpuSeconds(pid);
        if (cpu is { } c)
        {
            _lastCpu = c;
        }

        if (ProcessMemory.Read(pid) is { } memory)
        {
            MemoryLast = memory;
            _lastHwm = Math.Max(_lastHwm, memory.PeakRss);
        }

        // ffmpeg and other children: their CPU time, summed over every child ever seen.
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var child) || child == pid)
            {
                continue;
            }

            var stat = ReadStat(child);
            if (stat is { PPid: var parent, Cpu: var childCpu } && parent == pid)
            {
                _childCpu[child] = childCpu;
            }
        }

        return new ProcessSample(
            _cpuOfEarlierRuns + _lastCpu,
            _childCpuOfEarlierRuns + _childCpu.Values.Sum(),
            MemoryLast.Rss,
            Math.Max(_peakRssOfEarlierRuns, _lastHwm));
    }

    /// <summary>SIGTERM, then waits for the graceful exit (drain, exporters flush); kill -9 after <paramref name="timeout"/>.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        Stopping = true;
        if (!_process.HasExited)
        {
            Sample();
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill!.WaitForExitAsync();
            }

            using var cts = new CancellationTokenSource(timeout);
            try
            {
                // Sample while it drains: the last CPU figures are those just before exit.
                while (!_process.HasExited)
                {
                    Sample();
                    await Task.Delay(100, cts.Token);
                }
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync(CancellationToken.None);
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Http.Dispose();
        await _log.DisposeAsync();
    }

    private Process Launch()
    {
        var process = new Process { StartInfo = _start };
        process.OutputDataReceived += (_, e) => WriteLog(e.Data);
        process.ErrorDataReceived += (_, e) => WriteLog(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _lastCpu = 0;
        _lastHwm = 0;
        return process;
    }

    private void WriteLog(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.WriteLine(line);
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private static double? ReadCpuSeconds(int pid) => ReadStat(pid)?.Cpu;

    /// <summary>Parent pid and utime+stime (seconds) from <c>/proc/{pid}/stat</c>; null when the process is gone.</summary>
    internal static (int PPid, double Cpu)? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) is in parentheses and may hold spaces: fields are counted after its ')'.
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = text[(close + 2)..].Split(' ');
        if (fields.Length < 13)
        {
            return null;
        }

        // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
        var ppid = int.Parse(fields[1], CultureInfo.InvariantCulture);
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (ppid, ticks / TicksPerSecond);
    }
}

/// <summary>CPU seconds (the process; its children such as ffmpeg), current and peak RSS in bytes.</summary>
public sealed record ProcessSample(double CpuSeconds, double ChildCpuSeconds, long RssBytes, long PeakRssBytes);
