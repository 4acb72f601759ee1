namespace Detektor.Detection.Decoding;

/// <summary>Greedy non-maximum suppression, in place, per class (or across classes).</summary>
public static class Nms
{
    /// <summary>
    /// Sorts by score (highest first) and drops every box that overlaps a kept box of the same class (any class when
    /// <paramref name="perClass"/> is false) by more than <paramref name="iouThreshold"/>; keeps at most
    /// <paramref name="maxDetections"/>.
    /// </summary>
    public static void Apply(CandidateBuffer candidates, float iouThreshold, int maxDetections, bool perClass = true)
    {
        var items = candidates.Span;
        items.Sort(static (a, b) => b.Score.CompareTo(a.Score));
        var kept = 0;
        for (var i = 0; i < items.Length && kept < maxDetections; i++)
        {
            var suppressed = false;
            for (var k = 0; k < kept; k++)
            {
                if ((!perClass || items[k].ClassId == items[i].ClassId) && items[k].IoU(items[i]) > iouThreshold)
                {
                    suppressed = true;
                    break;
                }
            }

            if (!suppressed)
            {
                items[kept++] = items[i];
            }
        }

        candidates.Truncate(kept);
    }
}
