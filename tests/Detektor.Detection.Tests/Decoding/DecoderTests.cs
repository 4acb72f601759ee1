using Detektor.Detection.Decoding;

namespace Detektor.Detection.Tests.Decoding;

public class DecoderTests
{
    [Fact]
    public void CenterNet_PeaksOnly_AboveThreshold_WithExtentsFromThePoint()
    {
        const int h = 8, w = 8, classes = 3;
        var heat = new float[h * w * classes];
        var wh = new float[h * w * 4];
        void Set(int row, int col, int c, float v) => heat[(((row * w) + col) * classes) + c] = v;
        Set(2, 3, 1, 0.9f);   // a peak
        Set(2, 4, 1, 0.6f);   // its neighbour: not a peak
        Set(6, 6, 2, 0.5f);   // another class's peak
        Set(6, 7, 0, 0.2f);   // below threshold
        var e = ((2 * w) + 3) * 4;
        (wh[e], wh[e + 1], wh[e + 2], wh[e + 3]) = (5, 6, 7, 8);
        var output = new CandidateBuffer(2);

        CenterNetDecoder.Decode(heat, wh, h, w, classes, 4, new ClassFilter(classes, 0.3f), output);

        Assert.Equal(2, output.Count);
        var peak = output[0];
        Assert.Equal((1, 0.9f), (peak.ClassId, peak.Score));
        Assert.Equal((12f - 5, 8f - 6, 12f + 7, 8f + 8), (peak.X1, peak.Y1, peak.X2, peak.Y2));
        Assert.Equal(2, output[1].ClassId);
    }

    [Fact]
    public void Nms_SameClassOverlap_KeepsTheBest_OtherClassesStay()
    {
        var buffer = new CandidateBuffer();
        buffer.Add(new Candidate(0, 0, 10, 10, 0.6f, 0));
        buffer.Add(new Candidate(1, 1, 11, 11, 0.9f, 0));
        buffer.Add(new Candidate(1, 1, 11, 11, 0.5f, 1));
        buffer.Add(new Candidate(50, 50, 60, 60, 0.4f, 0));

        Nms.Apply(buffer, 0.5f, 10);

        Assert.Equal([0.9f, 0.5f, 0.4f], buffer.Span.ToArray().Select(c => c.Score));
    }

    [Fact]
    public void Nms_MaxDetections_CapsTheResult()
    {
        var buffer = new CandidateBuffer();
        for (var i = 0; i < 10; i++)
        {
            buffer.Add(new Candidate(i * 20, 0, (i * 20) + 10, 10, i / 10f, 0));
        }

        Nms.Apply(buffer, 0.5f, 3);

        Assert.Equal([0.9f, 0.8f, 0.7f], buffer.Span.ToArray().Select(c => c.Score));
    }

    [Fact]
    public void BlazeFace_AnchorsAndSigmoid_GiveCentredBoxes()
    {
        var s16 = Enumerable.Repeat(-10f, 512).ToArray();
        var b16 = new float[512 * 16];
        var s8 = Enumerable.Repeat(-10f, 384).ToArray();
        var b8 = new float[384 * 16];
        // 16x16 grid, cell (row 3, col 5), second anchor: index (3 * 16 + 5) * 2 + 1; raw 2 -> sigmoid 0.881.
        var i = (((3 * 16) + 5) * 2) + 1;
        s16[i] = 2f;
        (b16[i * 16], b16[(i * 16) + 1], b16[(i * 16) + 2], b16[(i * 16) + 3]) = (4, -2, 30, 40);
        // 8x8 grid, cell (7, 0), anchor 5.
        var k = (((7 * 8) + 0) * 6) + 5;
        s8[k] = 0f;
        (b8[k * 16 + 2], b8[(k * 16) + 3]) = (20, 20);
        var output = new CandidateBuffer();

        BlazeFaceDecoder.Decode(s16, b16, s8, b8, 256, 0.5f, output);

        Assert.Equal(2, output.Count);
        var a = output[0];
        var cx = ((5 + 0.5f) / 16 * 256) + 4;
        var cy = ((3 + 0.5f) / 16 * 256) - 2;
        Assert.Equal(cx - 15, a.X1, 3);
        Assert.Equal(cy - 20, a.Y1, 3);
        Assert.Equal(cx + 15, a.X2, 3);
        Assert.Equal(1f / (1f + MathF.Exp(-2f)), a.Score, 5);
        Assert.Equal(0.5f, output[1].Score, 5);
        Assert.Equal((0.5f / 8 * 256) - 10, output[1].X1, 3);
    }

    [Fact]
    public void ClassFilter_LabelsAndMinScores_ApplyPerClass()
    {
        var sut = new ClassFilter(LabelSet.Coco, 0.3f, ["person", "car"], new Dictionary<string, float> { ["PERSON"] = 0.6f });

        Assert.False(sut.Accepts(0, 0.5f));
        Assert.True(sut.Accepts(0, 0.6f));
        Assert.True(sut.Accepts(2, 0.3f));
        Assert.False(sut.Accepts(7, 0.99f));
        Assert.Equal(0.3f, sut.LowestMinScore);
    }
}
