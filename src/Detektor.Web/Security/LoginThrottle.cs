namespace Detektor.Web.Security;

/// <summary>
/// Slows password guessing: after <see cref="MaxFailures"/> failed sign-ins for one user name, or from one client
/// address, within <see cref="Window"/>, further attempts for it are refused (without checking the password) until the
/// window has passed. At most <see cref="MaxTracked"/> names and addresses are tracked; when full, the oldest is forgotten.
/// </summary>
public sealed class LoginThrottle(TimeProvider time)
{
    public const int MaxFailures = 5;
    public const int MaxTracked = 10_000;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(15);

    private readonly Dictionary<string, (int Count, DateTimeOffset First)> _failures = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _gate = new();

    public bool IsLocked(string key)
    {
        lock (_gate)
        {
            if (!_failures.TryGetValue(key, out var entry))
            {
                return false;
            }

            if (time.GetUtcNow() - entry.First >= Window)
            {
                _failures.Remove(key);
                return false;
            }

            return entry.Count >= MaxFailures;
        }
    }

    public void Failed(string key)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (_failures.TryGetValue(key, out var entry) && now - entry.First < Window)
            {
                _failures[key] = (entry.Count + 1, entry.First);
                return;
            }

            if (_failures.Count >= MaxTracked && !_failures.ContainsKey(key))
            {
                var oldest = _failures.MinBy(kv => kv.Value.First).Key;
                _failures.Remove(oldest);
            }

            _failures[key] = (1, now);
        }
    }

    public void Succeeded(string key)
    {
        lock (_gate)
        {
            _failures.Remove(key);
        }
    }
}
