using System.Numerics;

namespace Detektor.Detection.Decoding;

/// <summary>
/// Decodes CenterNet outputs: a class heat-map <c>[H, W, C]</c> (already sigmoid) and box extents <c>[H, W, 4]</c>
/// (left, top, right, bottom distances in input pixels from the cell's point <c>(col × stride, row × stride)</c>).
/// A detection is a heat-map peak: a value at or above its class's minimum score that no neighbour in its 3×3 window
/// exceeds (the 3×3 max-pool test of the original model's decode).
/// </summary>
public static class CenterNetDecoder
{
    public static void Decode(
        ReadOnlySpan<float> heat,
        ReadOnlySpan<float> wh,
        int height,
        int width,
        int classes,
        float stride,
        ClassFilter filter,
        CandidateBuffer output)
    {
        if (heat.Length != height * width * classes || wh.Length != height * width * 4)
        {
            throw new ArgumentException($"Expected a [{height},{width},{classes}] heat-map and [{height},{width},4] extents.");
        }

        var threshold = filter.LowestMinScore;
        var rowStride = width * classes;
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var limit = new Vector<float>(threshold);
            var last = heat.Length - Vector<float>.Count;
            for (; i <= last; i += Vector<float>.Count)
            {
                if (!Vector.GreaterThanOrEqualAny(new Vector<float>(heat[i..]), limit))
                {
                    continue;
                }

                for (var j = i; j < i + Vector<float>.Count; j++)
                {
                    if (heat[j] >= threshold)
                    {
                        TryPeak(heat, wh, j, height, width, classes, rowStride, stride, filter, output);
                    }
                }
            }
        }

        for (; i < heat.Length; i++)
        {
            if (heat[i] >= threshold)
            {
                TryPeak(heat, wh, i, height, width, classes, rowStride, stride, filter, output);
            }
        }
    }

    private static void TryPeak(ReadOnlySpan<float> heat, ReadOnlySpan<float> wh, int index, int height, int width, int classes, int rowStride, float stride, ClassFilter filter, CandidateBuffer output)
    {
        var value = heat[index];
        var classId = index % classes;
        if (!filter.Accepts(classId, value))
        {
            return;
        }

        var cell = index / classes;
        var row = cell / width;
        var col = cell - (row * width);
        for (var dy = -1; dy <= 1; dy++)
        {
            var y = row + dy;
            if ((uint)y >= (uint)height)
            {
                continue;
            }

            for (var dx = -1; dx <= 1; dx++)
            {
                var x = col + dx;
                if ((uint)x >= (uint)width || (dx == 0 && dy == 0))
                {
                    continue;
                }

                if (heat[(y * rowStride) + (x * classes) + classId] > value)
                {
                    return;
                }
            }
        }

        var cx = col * stride;
        var cy = row * stride;
        var e = wh.Slice(cell * 4, 4);
        output.Add(new Candidate(cx - e[0], cy - e[1], cx + e[2], cy + e[3], value, classId));
    }
}
