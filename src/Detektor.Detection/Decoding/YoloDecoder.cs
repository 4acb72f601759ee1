namespace Detektor.Detection.Decoding;

/// <summary>The output layouts of common YOLO ONNX exports.</summary>
public enum YoloLayout
{
    /// <summary>YOLOv5: <c>[1, N, 5 + C]</c> rows of cx, cy, w, h, objectness, class scores.</summary>
    V5,

    /// <summary>YOLOv8 / YOLO11: <c>[1, 4 + C, N]</c> (transposed), cx, cy, w, h, class scores, no objectness.</summary>
    V8,
}

/// <summary>Decodes YOLO outputs (boxes as centre and size in input pixels) into candidates.</summary>
public static class YoloDecoder
{
    /// <summary>The layout that matches an output shape, or null when it matches none.</summary>
    public static YoloLayout? Detect(ReadOnlySpan<long> shape, int classes)
    {
        if (shape.Length != 3 || shape[0] != 1)
        {
            return null;
        }

        if (shape[2] == 5 + classes)
        {
            return YoloLayout.V5;
        }

        return shape[1] == 4 + classes ? YoloLayout.V8 : null;
    }

    /// <summary>Decodes <paramref name="output"/> of shape <c>[1, N, 5 + C]</c> (v5) or <c>[1, 4 + C, N]</c> (v8).</summary>
    public static void Decode(ReadOnlySpan<float> output, YoloLayout layout, int count, int classes, ClassFilter filter, CandidateBuffer candidates)
    {
        var threshold = filter.LowestMinScore;
        if (layout == YoloLayout.V5)
        {
            var rowLength = 5 + classes;
            if (output.Length != count * rowLength)
            {
                throw new ArgumentException($"A YOLOv5 output of {count} rows of {rowLength} has {count * rowLength} values, not {output.Length}.");
            }

            for (var n = 0; n < count; n++)
            {
                var row = output.Slice(n * rowLength, rowLength);
                var objectness = row[4];
                if (objectness < threshold)
                {
                    continue;
                }

                var (best, score) = Best(row[5..], 1, classes, objectness);
                Emit(row[0], row[1], row[2], row[3], best, score, filter, candidates);
            }

            return;
        }

        if (output.Length != count * (4 + classes))
        {
            throw new ArgumentException($"A YOLOv8 output of {4 + classes} rows of {count} has {count * (4 + classes)} values, not {output.Length}.");
        }

        for (var n = 0; n < count; n++)
        {
            var (best, score) = Best(output[((4 * count) + n)..], count, classes, 1f);
            if (score < threshold)
            {
                continue;
            }

            Emit(output[n], output[count + n], output[(2 * count) + n], output[(3 * count) + n], best, score, filter, candidates);
        }
    }

    private static (int ClassId, float Score) Best(ReadOnlySpan<float> scores, int step, int classes, float factor)
    {
        var best = 0;
        var max = float.NegativeInfinity;
        for (var c = 0; c < classes; c++)
        {
            var s = scores[c * step];
            if (s > max)
            {
                max = s;
                best = c;
            }
        }

        return (best, max * factor);
    }

    private static void Emit(float cx, float cy, float w, float h, int classId, float score, ClassFilter filter, CandidateBuffer candidates)
    {
        if (filter.Accepts(classId, score) && w > 0 && h > 0)
        {
            candidates.Add(new Candidate(cx - (w / 2), cy - (h / 2), cx + (w / 2), cy + (h / 2), score, classId));
        }
    }
}
