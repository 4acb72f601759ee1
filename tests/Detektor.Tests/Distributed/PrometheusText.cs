using System.Globalization;

namespace Detektor.Tests.Distributed;

/// <summary>Reads numbers out of a <c>/metrics</c> page (Prometheus text format).</summary>
internal static class PrometheusText
{
    /// <summary>Sums a Prometheus metric's samples whose labels contain every given <c>name="value"</c>.</summary>
    public static double Sum(string metrics, string name, params string[] labels)
    {
        double sum = 0;
        foreach (var line in metrics.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal) && !line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                continue;
            }

            if (!labels.All(l => line.Contains(l, StringComparison.Ordinal)))
            {
                continue;
            }

            var valueStart = line.IndexOf('}', StringComparison.Ordinal) is var close and >= 0 ? close + 2 : name.Length + 1;
            sum += double.Parse(line[valueStart..].Split(' ')[0], CultureInfo.InvariantCulture);
        }

        return sum;
    }
}
