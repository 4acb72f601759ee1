namespace Detektor.Detection.Decoding;

/// <summary>
/// Decodes MediaPipe BlazeFace outputs: 896 anchors, first a 16×16 grid with 2 anchors per cell (512), then an 8×8 grid
/// with 6 per cell (384). Per anchor a raw score (sigmoid gives the confidence) and 16 values: x, y, w, h, then six
/// key points, in input pixels relative to the anchor's centre <c>((col + 0.5) / cells, (row + 0.5) / cells)</c>.
/// </summary>
public static class BlazeFaceDecoder
{
    public const int AnchorCount = 896;

    /// <summary>Decodes both heads into candidates in input pixels (class 0, "face").</summary>
    public static void Decode(
        ReadOnlySpan<float> scores16,
        ReadOnlySpan<float> boxes16,
        ReadOnlySpan<float> scores8,
        ReadOnlySpan<float> boxes8,
        int inputSize,
        float minScore,
        CandidateBuffer output)
    {
        if (scores16.Length != 512 || boxes16.Length != 512 * 16 || scores8.Length != 384 || boxes8.Length != 384 * 16)
        {
            throw new ArgumentException("BlazeFace outputs must be [512,1], [512,16], [384,1] and [384,16].");
        }

        // sigmoid(raw) >= minScore  <=>  raw >= logit(minScore): no exp for the ~890 anchors that are not faces.
        var rawThreshold = MathF.Log(minScore / (1 - minScore));
        Head(scores16, boxes16, 16, 2, inputSize, rawThreshold, output);
        Head(scores8, boxes8, 8, 6, inputSize, rawThreshold, output);
    }

    private static void Head(ReadOnlySpan<float> scores, ReadOnlySpan<float> boxes, int cells, int anchorsPerCell, int inputSize, float rawThreshold, CandidateBuffer output)
    {
        for (var i = 0; i < scores.Length; i++)
        {
            var raw = scores[i];
            if (raw < rawThreshold)
            {
                continue;
            }

            var cell = i / anchorsPerCell;
            var row = cell / cells;
            var col = cell - (row * cells);
            var ax = (col + 0.5f) / cells * inputSize;
            var ay = (row + 0.5f) / cells * inputSize;
            var b = boxes.Slice(i * 16, 4);
            var cx = ax + b[0];
            var cy = ay + b[1];
            var w = b[2];
            var h = b[3];
            if (w <= 0 || h <= 0)
            {
                continue;
            }

            var score = 1f / (1f + MathF.Exp(-raw));
            output.Add(new Candidate(cx - (w / 2), cy - (h / 2), cx + (w / 2), cy + (h / 2), score, 0));
        }
    }
}
