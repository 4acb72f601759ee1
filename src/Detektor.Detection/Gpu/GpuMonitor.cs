using System.Runtime.InteropServices;
using System.Text;

namespace Detektor.Detection.Gpu;

/// <summary>One GPU's state as NVML reports it.</summary>
public sealed record GpuReading(int Index, string Name, double UtilizationPercent, ulong MemoryUsedBytes, ulong MemoryTotalBytes, double TemperatureCelsius);

/// <summary>
/// NVIDIA GPUs through NVML (<c>libnvidia-ml.so.1</c>, loaded with <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>
/// when present, so a machine without a GPU or driver just reports none) — the library <c>nvidia-smi</c> itself reads, called
/// in-process instead of exec'ing a tool per poll. Readings are cached for the poll interval, so the health check and the
/// three gauges share one NVML call per interval.
/// </summary>
public sealed unsafe class GpuMonitor : IDisposable
{
    private const int Success = 0;

    private readonly TimeProvider _time;
    private readonly TimeSpan _pollInterval;
    private readonly Lock _lock = new();
    private readonly IntPtr _library;
    private readonly delegate* unmanaged<int> _shutdown;
    private readonly delegate* unmanaged<uint*, int> _getCount;
    private readonly delegate* unmanaged<uint, IntPtr*, int> _getHandle;
    private readonly delegate* unmanaged<IntPtr, Utilization*, int> _getUtilization;
    private readonly delegate* unmanaged<IntPtr, Memory*, int> _getMemory;
    private readonly delegate* unmanaged<IntPtr, int, uint*, int> _getTemperature;
    private readonly delegate* unmanaged<IntPtr, byte*, uint, int> _getName;
    private readonly Func<IReadOnlyList<GpuReading>>? _source;
    private IReadOnlyList<GpuReading> _last = [];
    private long _lastAt;
    private bool _disposed;

    public GpuMonitor(TimeProvider time, TimeSpan pollInterval, string? libraryPath = null)
    {
        _time = time;
        _pollInterval = pollInterval;
        _lastAt = long.MinValue;
        var candidates = libraryPath is null ? new[] { "libnvidia-ml.so.1", "libnvidia-ml.so" } : [libraryPath];
        foreach (var candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out _library))
            {
                break;
            }
        }

        if (_library == IntPtr.Zero)
        {
            Status = "absent: libnvidia-ml is not installed (no NVIDIA driver)";
            return;
        }

        try
        {
            var init = (delegate* unmanaged<int>)NativeLibrary.GetExport(_library, "nvmlInit_v2");
            _shutdown = (delegate* unmanaged<int>)NativeLibrary.GetExport(_library, "nvmlShutdown");
            _getCount = (delegate* unmanaged<uint*, int>)NativeLibrary.GetExport(_library, "nvmlDeviceGetCount_v2");
            _getHandle = (delegate* unmanaged<uint, IntPtr*, int>)NativeLibrary.GetExport(_library, "nvmlDeviceGetHandleByIndex_v2");
            _getUtilization = (delegate* unmanaged<IntPtr, Utilization*, int>)NativeLibrary.GetExport(_library, "nvmlDeviceGetUtilizationRates");
            _getMemory = (delegate* unmanaged<IntPtr, Memory*, int>)NativeLibrary.GetExport(_library, "nvmlDeviceGetMemoryInfo");
            _getTemperature = (delegate* unmanaged<IntPtr, int, uint*, int>)NativeLibrary.GetExport(_library, "nvmlDeviceGetTemperature");
            _getName = (delegate* unmanaged<IntPtr, byte*, uint, int>)NativeLibrary.GetExport(_library, "nvmlDeviceGetName");
            var rc = init();
            if (rc != Success)
            {
                Status = $"absent: nvmlInit failed with NVML error {rc}";
                NativeLibrary.Free(_library);
                _library = IntPtr.Zero;
                return;
            }

            uint count;
            rc = _getCount(&count);
            DeviceCount = rc == Success ? (int)count : 0;
            IsAvailable = DeviceCount > 0;
            Status = IsAvailable ? $"present: {DeviceCount} GPU(s) via NVML" : "absent: NVML reports no GPU";
        }
        catch (EntryPointNotFoundException ex)
        {
            Status = $"absent: libnvidia-ml lacks {ex.Message}";
            NativeLibrary.Free(_library);
            _library = IntPtr.Zero;
        }
    }

    /// <summary>
    /// GPUs read from <paramref name="source"/> instead of NVML (another reader, or fixed readings in tests of the check and
    /// the gauges); cached for the poll interval like NVML's.
    /// </summary>
    public GpuMonitor(TimeProvider time, TimeSpan pollInterval, Func<IReadOnlyList<GpuReading>> source, int deviceCount, string status)
    {
        _time = time;
        _pollInterval = pollInterval;
        _lastAt = long.MinValue;
        _source = source;
        DeviceCount = deviceCount;
        IsAvailable = deviceCount > 0;
        Status = status;
    }

    /// <summary>True when NVML works and reports at least one GPU.</summary>
    public bool IsAvailable { get; }

    public int DeviceCount { get; }

    /// <summary>Why there are or are not GPU readings, in words.</summary>
    public string Status { get; }

    /// <summary>Current readings (cached for the poll interval); empty without a GPU.</summary>
    public IReadOnlyList<GpuReading> Read()
    {
        if (!IsAvailable)
        {
            return [];
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return [];
            }

            var now = _time.GetTimestamp();
            if (_lastAt != long.MinValue && _time.GetElapsedTime(_lastAt, now) < _pollInterval)
            {
                return _last;
            }

            var readings = _source is null ? ReadNvml() : _source();
            _last = readings;
            _lastAt = now;
            return readings;
        }
    }

    private List<GpuReading> ReadNvml()
    {
        var readings = new List<GpuReading>(DeviceCount);
        var name = stackalloc byte[96];
        for (uint i = 0; i < DeviceCount; i++)
        {
            IntPtr device;
            if (_getHandle(i, &device) != Success)
            {
                continue;
            }

            Utilization utilization;
            Memory memory;
            uint temperature;
            var hasUtilization = _getUtilization(device, &utilization) == Success;
            var hasMemory = _getMemory(device, &memory) == Success;
            var hasTemperature = _getTemperature(device, 0, &temperature) == Success;
            var text = _getName(device, name, 96) == Success ? Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name)) : "gpu";
            readings.Add(new GpuReading(
                (int)i,
                text,
                hasUtilization ? utilization.Gpu : double.NaN,
                hasMemory ? memory.Used : 0,
                hasMemory ? memory.Total : 0,
                hasTemperature ? temperature : double.NaN));
        }

        return readings;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_library != IntPtr.Zero)
            {
                if (IsAvailable)
                {
                    _shutdown();
                }

                NativeLibrary.Free(_library);
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Utilization
    {
        public uint Gpu;
        public uint MemoryPercent;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Memory
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }
}
