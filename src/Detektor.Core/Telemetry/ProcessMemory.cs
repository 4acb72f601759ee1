using System.Globalization;

namespace Detektor.Core.Telemetry;

/// <summary>
/// A process's resident memory from <c>/proc/{pid}/status</c> (Linux), in bytes: <see cref="Rss"/> (VmRSS) and its parts,
/// <see cref="Anonymous"/> (RssAnon: heaps — the GC's, malloc's, ONNX Runtime's and SQLite's), <see cref="FileBacked"/>
/// (RssFile: mapped libraries and memory-mapped files, shared with the page cache) and <see cref="Shared"/> (RssShmem), and
/// the peak <see cref="PeakRss"/> (VmHWM). Splitting RSS this way tells a leak (anonymous memory that keeps growing) from
/// mapped files the kernel can drop.
/// </summary>
public readonly record struct ProcessMemory(long Rss, long PeakRss, long Anonymous, long FileBacked, long Shared)
{
    /// <summary>This process's memory, or null where <c>/proc</c> is not there (not Linux).</summary>
    public static ProcessMemory? ReadSelf() => Read("/proc/self/status");

    /// <summary>Another process's memory, or null when it has gone or cannot be read.</summary>
    public static ProcessMemory? Read(int pid) => Read(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/status"));

    /// <summary>Parses the text of a <c>status</c> file; null when it has no <c>VmRSS</c> line.</summary>
    public static ProcessMemory? Parse(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        long? rss = null;
        long hwm = 0, anon = 0, file = 0, shmem = 0;
        foreach (var line in lines)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            switch (line[..colon])
            {
                case "VmRSS":
                    rss = Bytes(line, colon);
                    break;
                case "VmHWM":
                    hwm = Bytes(line, colon);
                    break;
                case "RssAnon":
                    anon = Bytes(line, colon);
                    break;
                case "RssFile":
                    file = Bytes(line, colon);
                    break;
                case "RssShmem":
                    shmem = Bytes(line, colon);
                    break;
            }
        }

        return rss is { } r ? new ProcessMemory(r, Math.Max(hwm, r), anon, file, shmem) : null;
    }

    private static ProcessMemory? Read(string path)
    {
        try
        {
            return Parse(File.ReadLines(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // "VmRSS:\t  123456 kB"
    private static long Bytes(string line, int colon)
    {
        var value = line.AsSpan(colon + 1).Trim();
        if (value.EndsWith("kB", StringComparison.Ordinal))
        {
            return 1024 * long.Parse(value[..^2].Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
        }

        return long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
    }
}
