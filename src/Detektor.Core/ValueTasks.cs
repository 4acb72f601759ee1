namespace Detektor.Core;

public static class ValueTasks
{
    /// <summary>
    /// Awaits two operations that were both started before either is awaited (so that, say, two Redis commands share one
    /// round trip); the second is awaited even when the first fails.
    /// </summary>
    public static async ValueTask WhenBoth(ValueTask first, ValueTask second)
    {
        try
        {
            await first;
        }
        finally
        {
            await second;
        }
    }
}
