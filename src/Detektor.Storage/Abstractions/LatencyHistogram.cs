namespace Detektor.Storage.Abstractions;

/// <summary>
/// The latency histogram of the stats projection: log-scale buckets, four per doubling, from 1 ms to about 12 minutes.
/// Bucket 0 holds [0, 1) ms; bucket i (1 ≤ i &lt; 79) holds [2^((i-1)/4), 2^(i/4)) ms; bucket 79 holds everything longer.
/// Only non-empty buckets are stored, as (camera, minute, bucket, count) rows, so histograms of any interval are the
/// sum of their minutes. TimescaleDB's continuous aggregate computes the same index in SQL (<see cref="SqlExpression"/>).
/// </summary>
public static class LatencyHistogram
{
    public const int BucketCount = 80;

    public static int BucketOf(double milliseconds)
    {
        if (!(milliseconds >= 1))
        {
            return 0; // below 1 ms, negative or NaN
        }

        var index = 1 + (int)Math.Floor(4 * Math.Log2(milliseconds));
        return Math.Min(index, BucketCount - 1);
    }

    /// <summary>Lower bound of bucket <paramref name="bucket"/>, in milliseconds.</summary>
    public static double LowerBound(int bucket) => bucket <= 0 ? 0 : Math.Pow(2, (bucket - 1) / 4.0);

    /// <summary>Upper bound of bucket <paramref name="bucket"/>, in milliseconds (infinite for the last).</summary>
    public static double UpperBound(int bucket) => bucket >= BucketCount - 1 ? double.PositiveInfinity : Math.Pow(2, bucket / 4.0);

    /// <summary>The SQL (PostgreSQL) that computes <see cref="BucketOf"/> for a latency in milliseconds named <paramref name="ms"/>.</summary>
    public static string SqlExpression(string ms) =>
        $"CASE WHEN {ms} >= 1 THEN least({BucketCount - 1}, 1 + floor(4 * ln({ms}) / ln(2))::int) ELSE 0 END";

    /// <summary>
    /// The <paramref name="quantile"/> (0–1) of a histogram given as (bucket, count) pairs sorted by bucket, interpolating
    /// linearly inside the bucket; never above <paramref name="maxMs"/>, the largest latency seen.
    /// </summary>
    public static double? Percentile(IReadOnlyList<(int Bucket, long Count)> buckets, double quantile, double? maxMs)
    {
        long total = 0;
        foreach (var (_, count) in buckets)
        {
            total += count;
        }

        if (total == 0)
        {
            return null;
        }

        var rank = quantile * total;
        long before = 0;
        foreach (var (bucket, count) in buckets)
        {
            if (count <= 0)
            {
                continue;
            }

            if (before + count >= rank)
            {
                var lower = LowerBound(bucket);
                var upper = UpperBound(bucket);
                if (double.IsInfinity(upper) || (maxMs is { } m && m < upper))
                {
                    upper = Math.Max(lower, maxMs ?? lower);
                }

                var value = lower + ((upper - lower) * (rank - before) / count);
                return maxMs is { } max ? Math.Min(value, max) : value;
            }

            before += count;
        }

        return maxMs;
    }
}
